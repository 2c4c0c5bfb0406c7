"""The caller side of ``bench/bench_calls.py``: N concurrent softphone calls in one process.

Driven by bench_calls over stdin/stdout, one line each way per command:

- prints ``ready`` once imported;
- ``warm URL``: places one short call (warms the server and this process),
  prints ``warmed``;
- ``burst URL``: places ``--calls`` calls that hang up right after ``start``
  (set-up and tear-down cost), prints ``{"ok": count}`` and exits;
- ``go URL``: places ``--calls`` calls at once (starts spread over
  ``--spread-s``), prints one JSON line (a record per call, this process's
  CPU time for them and its longest garbage-collector pause) and exits.

Each call runs the real softphone (``place_call``) with a small script: wait
for the greeting, press ``1``, wait for the reply, hang up.

"Late" here is the caller's playback view, which the softphone's own
``late_frames`` does not give (that counts the softphone's *sending* ticks that
slipped, i.e. this process stalling). :class:`TimedMediaStream` timestamps
every agent ``media`` message as it arrives and replays the arrivals through
an ideal Twilio player: playback of a reply starts when its first frame
arrives and then runs at real time. A frame that arrives after the audio before
it has finished playing is an underrun; the gap is how late it was. Gaps
between replies (after the caller's key) are not underruns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from _probes import GcPauses

from telephony.softphone import call as softphone_call
from telephony.softphone import parse_script, place_call
from telephony.softphone.result import CallResult
from telephony.softphone.stream import MediaStream
from telephony.wire.codec import SAMPLE_RATE

__all__ = ["TimedMediaStream", "playback_gaps"]

HANGUP_SCRIPT = """
[[step]]
hangup = true
"""
WARM_SCRIPT = """
[[step]]
pause_ms = 300
[[step]]
hangup = true
"""

_STREAMS: dict[str, TimedMediaStream] = {}  # call SID -> its stream, to read arrivals after


class TimedMediaStream(MediaStream):
    """The softphone's stream, also recording when each agent frame arrived.

    ``arrivals`` holds ``(monotonic s, payload bytes, reply index)``; the reply
    index goes up each time the caller's input ends (here: the key press).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, int, int]] = []
        self._reply_index = 0
        _STREAMS[self.result.call_sid] = self

    def _on_media(self, payload: bytes) -> None:
        self.arrivals.append((self.clock.now(), len(payload), self._reply_index))
        super()._on_media(payload)

    def _end_input(self, turn, end_ms: float, end_tick: int) -> None:
        super()._end_input(turn, end_ms, end_tick)
        self._reply_index += 1


def playback_gaps(arrivals: list[tuple[float, int, int]]) -> list[float]:
    """Underruns of an ideal real-time player fed ``arrivals``, in ms (one per late frame)."""
    gaps: list[float] = []
    play_end = 0.0
    reply = None
    for at, size, index in arrivals:
        duration = size / SAMPLE_RATE
        if index != reply:  # a new reply: playback starts when its first frame arrives
            reply, play_end = index, at + duration
            continue
        gap = at - play_end
        if gap > 0:  # the player ran dry and waited for this frame
            gaps.append(gap * 1000)
            play_end = at + duration
        else:
            play_end += duration
    return gaps


def _record(result: CallResult, late_ms: float) -> dict:
    stream = _STREAMS.pop(result.call_sid, None)
    gaps = playback_gaps(stream.arrivals) if stream is not None else []
    dtmf = [t.response_ms for t in result.turns if t.kind == "dtmf" and t.response_ms is not None]
    return {
        "ok": result.ok,
        "outcome": result.outcome,
        "detail": result.detail,
        "duration_s": result.duration_ms / 1000,
        "frames_sent": result.frames_sent,
        "frames_received": result.frames_received,
        "agent_s_received": result.agent_ms_received / 1000,
        "agent_s_played": result.agent_ms_played / 1000,
        "underruns": len(gaps),
        "late_frames": sum(1 for g in gaps if g > late_ms),
        "worst_gap_ms": max(gaps, default=0.0),
        "send_late_frames": result.late_frames,
        "send_max_lateness_ms": result.max_lateness_ms,
        "reply_ms": dtmf[0] if dtmf else None,
        "warnings": len(result.warnings),
    }


def _instrument_softphone() -> None:
    """Swap ``MediaStream`` in ``place_call``'s module for :class:`TimedMediaStream`
    (this process only), to timestamp agent frames."""
    for hook in ("_on_media", "_end_input"):  # TimedMediaStream extends these two
        if not callable(getattr(MediaStream, hook, None)):
            raise RuntimeError(f"MediaStream.{hook} is gone: update bench/_call_client.py")
    softphone_call.MediaStream = TimedMediaStream  # type: ignore[misc]


def _failed(detail: str) -> dict:
    return {"ok": False, "outcome": "failed", "detail": detail}


async def _place(url: str, script, delay: float, limit_s: float, late_ms: float) -> dict:
    await asyncio.sleep(delay)
    try:
        async with asyncio.timeout(limit_s):
            result = await place_call(url, script)
    except TimeoutError:
        return _failed(f"no end within {limit_s:.0f} s")
    except Exception as exc:
        return _failed(repr(exc)[:200])
    return _record(result, late_ms)


async def _run(url: str, args: argparse.Namespace) -> list[dict]:
    script = parse_script(
        f"""
        [[step]]
        wait_for_agent = true
        quiet_ms = {args.quiet_ms}
        timeout_ms = {args.wait_timeout_ms}
        [[step]]
        dtmf = "1"
        [[step]]
        wait_for_agent = true
        quiet_ms = {args.quiet_ms}
        timeout_ms = {args.wait_timeout_ms}
        [[step]]
        hangup = true
        """,
        source="bench_calls",
    )
    spread = args.spread_s / max(1, args.calls - 1) if args.calls > 1 else 0.0
    calls = [
        _place(url, script, i * spread, args.call_timeout_s, args.late_ms)
        for i in range(args.calls)
    ]
    return await asyncio.gather(*calls)


async def _burst(url: str, args: argparse.Namespace) -> dict:
    """``--calls`` calls that hang up right after ``start``: the cost of set-up and tear-down."""
    script = parse_script(HANGUP_SCRIPT, source="burst")
    spread = args.spread_s / max(1, args.calls - 1)

    async def one(i: int) -> bool:
        await asyncio.sleep(i * spread)
        async with asyncio.timeout(30):
            return (await place_call(url, script)).ok

    results = await asyncio.gather(*(one(i) for i in range(args.calls)), return_exceptions=True)
    return {"ok": sum(1 for r in results if r is True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--spread-s", type=float, default=1.0)
    parser.add_argument("--quiet-ms", type=int, default=1000)
    parser.add_argument("--wait-timeout-ms", type=int, default=20_000)
    parser.add_argument("--call-timeout-s", type=float, default=60.0)
    parser.add_argument("--late-ms", type=float, default=40.0)
    parser.add_argument("--command-timeout-s", type=float, default=120.0)
    args = parser.parse_args()
    _instrument_softphone()

    pauses = GcPauses()
    print("ready", flush=True)
    deadline = time.monotonic() + args.command_timeout_s
    for _ in range(4):  # warm, then go or burst: bounded
        line = sys.stdin.readline().split()
        if not line or time.monotonic() > deadline:
            return
        command, url = line[0], line[1]
        if command == "warm":
            warm = parse_script(WARM_SCRIPT, source="warm-up")
            result = asyncio.run(asyncio.wait_for(place_call(url, warm), 20))
            print(f"warmed {result.outcome}", flush=True)
        elif command == "burst":
            print(json.dumps(asyncio.run(_burst(url, args))), flush=True)
            return
        elif command == "go":
            pauses.reset()
            cpu = time.process_time()
            records = asyncio.run(_run(url, args))
            cpu = time.process_time() - cpu
            answer = {"calls": records, "gc_max_ms": pauses.max_ms, "cpu_s": cpu}
            print(json.dumps(answer), flush=True)
            return


if __name__ == "__main__":
    main()
