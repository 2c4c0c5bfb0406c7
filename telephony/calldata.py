"""What a call session is given (the shared engines) and what it reports.

Kept apart from :mod:`telephony.session` so the web layer, the demo and
tests can name these types without the session's machinery.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from memory.callerid import normalise_caller
from telephony.calltoken import CallTokens
from telephony.clock import Clock, MonotonicClock
from telephony.limits import CallLimits, LimitStore, MemoryLimitStore
from telephony.metrics import CallMetrics
from telephony.providers.base import (
    AgentFactory,
    CallControl,
    CallInfo,
    InputSource,
    SpeechToText,
    TextToSpeech,
    VoiceActivityFactory,
)
from telephony.registry import CallRegistry
from telephony.settings import Settings
from telephony.turns import TurnConfig

__all__ = [
    "CallLog",
    "CallObserver",
    "CallReport",
    "CallServices",
    "CallerInput",
    "TurnTiming",
    "call_info",
    "notify",
    "turn_config",
]

CLOSE_NORMAL = 1000


@dataclass
class CallServices:
    """Process-wide engines and registries, opened once and shared by calls."""

    agent_factory: AgentFactory
    registry: CallRegistry
    tokens: CallTokens
    tts: TextToSpeech | None = None
    stt: SpeechToText | None = None
    vad: VoiceActivityFactory | None = None
    call_control: CallControl | None = None
    clock: Clock = field(default_factory=MonotonicClock)
    observer: CallObserver | None = None
    metrics: CallMetrics = field(default_factory=CallMetrics)
    limit_store: LimitStore = field(default_factory=lambda: MemoryLimitStore(CallLimits()))


class CallObserver(Protocol):
    """Told what is said on every call (the demo's live transcript, metrics).

    ``who`` is ``"caller"`` or ``"agent"``; ``text`` is what was recognised or
    what the caller heard of the agent's reply (cut at a barge-in).
    """

    def __call__(self, call_sid: str, who: str, text: str, timing: TurnTiming | None) -> None: ...


@dataclass(frozen=True, slots=True)
class CallerInput:
    """A finished piece of caller input for the agent."""

    text: str
    source: InputSource
    at: float
    confidence: float | None = None  # the recogniser's, for speech


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


def turn_config(settings: Settings) -> TurnConfig:
    """The turn-taking thresholds from the settings."""
    return TurnConfig(
        start_threshold=settings.vad_start_threshold,
        stop_threshold=settings.vad_stop_threshold,
        start_ms=settings.vad_start_ms,
        stop_ms=settings.vad_stop_ms,
        end_silence_ms=settings.end_silence_ms,
        unfinished_silence_ms=settings.unfinished_silence_ms,
        final_hold_ms=settings.final_hold_ms,
        confirm_ms=settings.barge_in_confirm_ms,
        resume_after_ms=settings.barge_in_resume_ms,
        late_word_ms=settings.barge_in_late_word_ms,
        early_answer_ms=settings.early_answer_ms,
        reprompt_after_ms=settings.reprompt_after_ms,
        silence_reprompts=settings.silence_reprompts,
    )


class CallLog(logging.LoggerAdapter):
    """Prefixes every line with the call (and its graph thread, to open in Studio)."""

    def process(self, msg, kwargs):  # type: ignore[override]
        thread = self.extra.get("thread_id")
        where = f"{self.extra['call_sid']} thread={thread}" if thread else self.extra["call_sid"]
        return f"[{where}] {msg}", kwargs


def call_info(
    call_sid: str, stream_sid: str, account_sid: str, params: Mapping[str, str]
) -> CallInfo:
    """The call's facts from ``start`` and the ``<Parameter>``s the webhook set.

    The webhook already normalised ``caller``; it is normalised again here so a
    stream started by other means (an older webhook, a custom TwiML) can never
    hand a flow a withheld caller ID as a number: ``caller`` is E.164 or ``""``.
    """
    return CallInfo(
        call_sid=call_sid,
        stream_sid=stream_sid,
        account_sid=account_sid,
        caller=normalise_caller(params.get("caller", "")),
        called=params.get("called", ""),
        direction=params.get("direction", "inbound"),
        parameters=params,
    )


def notify(
    observer: CallObserver | None,
    call_sid: str,
    who: str,
    text: str,
    timing: TurnTiming | None,
    *,
    log: logging.Logger | logging.LoggerAdapter,
) -> None:
    """Tell ``observer`` what was said; an observer's failure never hurts the call."""
    if observer is None:
        return
    try:
        observer(call_sid, who, text, timing)
    except Exception:
        log.exception("call observer failed")
