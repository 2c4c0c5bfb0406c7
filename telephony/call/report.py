"""What a call reports: per-turn timings, the call's report, and the observer told what is said.

Kept apart from :mod:`telephony.call.session` so the web layer, the demo,
metrics and tests can name these types without the session's machinery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["CLOSE_NORMAL", "CallObserver", "CallReport", "TurnTiming", "notify"]

CLOSE_NORMAL = 1000


class CallObserver(Protocol):
    """Told what is said on every call (the demo's live transcript, metrics).

    ``who`` is ``"caller"`` or ``"agent"``; ``text`` is what was recognised or
    what the caller heard of the agent's reply (cut at a barge-in).
    """

    def __call__(self, call_sid: str, who: str, text: str, timing: TurnTiming | None) -> None: ...


@dataclass(slots=True)
class TurnTiming:
    """When each stage of one turn happened (clock seconds)."""

    turn: int
    source: str
    input_at: float
    first_token_at: float | None = None
    first_audio_at: float | None = None
    finished_at: float | None = None
    interrupted: bool = False

    def ms(self, stage: float | None) -> float | None:
        return None if stage is None else round((stage - self.input_at) * 1000, 1)


@dataclass(slots=True)
class CallReport:
    """What happened on one call, for logs, metrics and tests."""

    call_sid: str = ""
    stream_sid: str = ""
    end_reason: str = ""
    close_code: int = CLOSE_NORMAL
    turns: list[TurnTiming] = field(default_factory=list)
    interruptions: int = 0
    frames_in: int = 0
    frames_out: int = 0
    heard: dict[int, str] = field(default_factory=dict)


def notify(
    observer: CallObserver | None,
    call_sid: str,
    who: str,
    text: str,
    timing: TurnTiming | None,
    *,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    """Tell ``observer`` what was said; an observer's failure never hurts the call."""
    if observer is None:
        return
    try:
        observer(call_sid, who, text, timing)
    except Exception:
        log.exception("call observer failed")
