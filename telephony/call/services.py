"""What every call is given: the process-wide engines and registries, opened once.

:mod:`telephony.services` builds one :class:`CallServices` from the settings
for the web app; the demo, tests and benchmarks build their own. Kept apart
from :mod:`telephony.call.session` so they can name it without the session's
machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telephony.admission.limits import CallLimits, LimitStore, MemoryLimitStore
from telephony.admission.registry import CallRegistry
from telephony.call.agent import AgentFactory, CallControl
from telephony.call.report import CallObserver
from telephony.clock import Clock, MonotonicClock
from telephony.metrics import CallMetrics
from telephony.speech.base import SpeechToText, TextToSpeech, VoiceActivityFactory
from telephony.wire.calltoken import CallTokens

__all__ = ["CallServices"]


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
