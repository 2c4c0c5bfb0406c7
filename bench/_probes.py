"""Cheap timing probes shared by the bench's server and client processes."""

from __future__ import annotations

import asyncio
import gc
import time

__all__ = ["GcPauses", "LagClock"]


LATE_MS = 40.0  # a writer wake-up later than this is listed by when it happened


class LagClock:
    """The monotonic clock, recording how late each completed ``sleep`` woke up.

    In the call session only the paced writer sleeps to completion (the start
    timeout is cancelled), so this is the writer's lag behind its schedule.
    """

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self.late_at: list[float] = []  # seconds since reset() of each lag over LATE_MS
        self.epoch = time.monotonic()

    def reset(self) -> None:
        self.lags_ms.clear()
        self.late_at.clear()
        self.epoch = time.monotonic()

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        due = time.monotonic() + seconds
        await asyncio.sleep(seconds)
        woke = time.monotonic()
        lag = (woke - due) * 1000
        self.lags_ms.append(lag)
        if lag > LATE_MS:
            self.late_at.append(woke - self.epoch)

    def stats(self) -> dict:
        """Lag percentiles (ms), and how many lags over LATE_MS fell in each second."""
        lags = sorted(self.lags_ms) or [0.0]
        per_second: dict[int, int] = {}
        for at in self.late_at:
            per_second[int(at)] = per_second.get(int(at), 0) + 1
        return {
            "sleeps": len(self.lags_ms),
            "p50_ms": lags[len(lags) // 2],
            "p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
            "max_ms": lags[-1],
            "late": len(self.late_at),
            "late_by_second": sorted(per_second.items()),
        }


class GcPauses:
    """Longest garbage-collector pause per generation (a pause stalls every call's writer)."""

    def __init__(self) -> None:
        self.max_ms = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        pause = (time.perf_counter() - self._started) * 1000
        self.max_ms[generation] = max(self.max_ms[generation], pause)
        self.count[generation] += 1

    def reset(self) -> None:
        self.max_ms, self.count = [0.0, 0.0, 0.0], [0, 0, 0]
