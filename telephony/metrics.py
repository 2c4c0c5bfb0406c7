"""Call metrics in the Prometheus text format (``GET /metrics``).

A deliberately small registry (counters, a gauge, histograms) instead of a
dependency: the service exposes a handful of series and the exposition
format is simple. All updates are O(1) and happen at call or turn
boundaries, never per audio frame.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["LATENCY_BUCKETS_S", "CallMetrics"]

# Callers notice a reply after ~800 ms; resolve finely below that.
LATENCY_BUCKETS_S = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0)


class _Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class CallMetrics:
    """The service's metrics; one instance per process."""

    def __init__(self) -> None:
        self.live_calls = 0
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._histograms: dict[str, dict[tuple[tuple[str, str], ...], _Histogram]] = defaultdict(
            dict
        )

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        key = tuple(sorted(labels.items()))
        series = self._counters[name]
        series[key] = series.get(key, 0.0) + value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """Record one latency observation in histogram ``name``."""
        key = tuple(sorted(labels.items()))
        series = self._histograms[name]
        if key not in series:
            series[key] = _Histogram(LATENCY_BUCKETS_S)
        series[key].observe(seconds)

    # -- call events (what the session reports) --------------------------------------
    def call_started(self) -> None:
        self.live_calls += 1
        self.inc("dialgraph_calls_started_total")

    def call_ended(self, reason: str) -> None:
        self.live_calls = max(0, self.live_calls - 1)
        self.inc("dialgraph_calls_ended_total", reason=_reason_kind(reason))

    def call_refused(self, why: str) -> None:
        self.inc("dialgraph_streams_refused_total", reason=why)

    def outbound_answered(self, answered_by: str, action: str) -> None:
        """An outbound call answered with machine detection on: who, and what was done."""
        self.inc("dialgraph_outbound_answered_total", answered_by=answered_by, action=action)

    def turn(self, source: str, first_token_ms: float | None, first_audio_ms: float | None) -> None:
        """One answered turn; latencies from the end of the caller's input, in ms."""
        self.inc("dialgraph_turns_total", source=source)
        if first_token_ms is not None:
            self.observe(
                "dialgraph_turn_latency_seconds", first_token_ms / 1000, stage="first_token"
            )
        if first_audio_ms is not None:
            self.observe(
                "dialgraph_turn_latency_seconds", first_audio_ms / 1000, stage="first_audio"
            )

    def barge_in(self, outcome: str) -> None:
        self.inc("dialgraph_barge_ins_total", outcome=outcome)

    def error(self, kind: str) -> None:
        self.inc("dialgraph_errors_total", kind=kind)

    # -- exposition -------------------------------------------------------------------
    def render(self) -> str:
        """The Prometheus text exposition (format version 0.0.4)."""
        lines = [
            "# HELP dialgraph_live_calls Calls being served right now.",
            "# TYPE dialgraph_live_calls gauge",
            f"dialgraph_live_calls {self.live_calls}",
        ]
        for name in sorted(self._counters):
            lines.append(f"# TYPE {name} counter")
            for key, value in sorted(self._counters[name].items()):
                lines.append(f"{name}{_labels(key)} {value:g}")
        for name in sorted(self._histograms):
            lines.append(f"# TYPE {name} histogram")
            for key, hist in sorted(self._histograms[name].items()):
                cumulative = 0
                for bound, count in zip(hist.buckets, hist.counts, strict=False):
                    cumulative += count
                    le = (*key, ("le", f"{bound:g}"))
                    lines.append(f"{name}_bucket{_labels(le)} {cumulative}")
                lines.append(f"{name}_bucket{_labels((*key, ('le', '+Inf')))} {hist.n}")
                lines.append(f"{name}_sum{_labels(key)} {hist.total:.6f}")
                lines.append(f"{name}_count{_labels(key)} {hist.n}")
        return "\n".join(lines) + "\n"


def _reason_kind(reason: str) -> str:
    """A low-cardinality label from a free-text end reason."""
    for prefix, kind in (
        ("caller hung up", "caller_hangup"),
        ("socket closed", "socket_closed"),
        ("agent hangup", "agent_hangup"),
        ("agent transfer", "transfer"),
        ("protocol error", "protocol_error"),
        ("refused", "refused"),
        ("internal error", "internal_error"),
    ):
        if reason.startswith(prefix):
            return kind
    return "other"
