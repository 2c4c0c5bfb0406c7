"""The interfaces between a call session and the engines behind it.

The session knows only these protocols; one module per vendor implements
them (``pocketsphinx``, ``assemblyai``, ``piper``, ``elevenlabs``, ``silero``,
``twilio_rest``), and only those modules import a vendor SDK.

Audio crossing these interfaces is always in the telephone's own format, so
no provider has to guess:

- inbound: :class:`AudioFrame` -- 8 kHz mono, both as the mu-law bytes Twilio
  sent and as decoded PCM16 (``numpy.int16``), usually 20 ms;
- outbound: text-to-speech yields 8 kHz mu-law bytes in any chunk size; the
  session frames and paces them.

The ``Agent`` protocol is implemented by ``graphs`` without importing
``telephony``, so it is structural and carries only plain values.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TRANSFER_FAILED",
    "Agent",
    "AgentFactory",
    "AudioFrame",
    "CallAction",
    "CallControl",
    "CallInfo",
    "InputSource",
    "ProviderError",
    "SpeechToText",
    "TextToSpeech",
    "Transcript",
    "VoiceActivity",
    "VoiceActivityFactory",
]


class ProviderError(Exception):
    """An engine or vendor failed (connection refused, error message, timeout).

    Attributes:
        provider: Short name of the engine, e.g. ``"assemblyai"``.
        retryable: Whether retrying the same operation may succeed.
    """

    def __init__(self, provider: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Fixed facts about one call, known once the media stream has started.

    Attributes:
        call_sid: Twilio's ``CallSid`` (``CA...``).
        stream_sid: The media stream's ``streamSid`` (``MZ...``).
        account_sid: The Twilio account the call belongs to.
        caller: The caller's number in E.164 (``From``), or ``""`` if withheld.
        called: The number that was called (``To``), or ``""``.
        direction: ``"inbound"`` or ``"outbound"``.
        parameters: All ``<Parameter>`` values Twilio passed in ``start``.
    """

    call_sid: str
    stream_sid: str
    account_sid: str = ""
    caller: str = ""
    called: str = ""
    direction: str = "inbound"
    parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One inbound block of caller audio.

    Attributes:
        ulaw: The raw 8 kHz mu-law bytes as Twilio sent them.
        pcm: The same audio decoded to PCM16 (``numpy.int16``), 8 kHz mono.
        timestamp_ms: Twilio's media timestamp, milliseconds since stream start.
    """

    ulaw: bytes
    pcm: np.ndarray
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Transcript:
    """A recognition result.

    Attributes:
        text: The recognised words (engine casing; may be empty).
        is_final: ``True`` once the engine will not revise this utterance.
        end_of_turn: ``True`` if the engine itself judged the caller's turn
            over (engines with their own turn detection, e.g. AssemblyAI).
        confidence: Engine confidence in [0, 1], or ``None`` if not given.
    """

    text: str
    is_final: bool
    end_of_turn: bool = False
    confidence: float | None = None


@runtime_checkable
class SpeechToText(Protocol):
    """A streaming recogniser: one ``transcribe`` call per call.

    ``transcribe`` consumes caller audio until the iterable ends and yields
    partial and final transcripts as they become available. It raises
    :class:`ProviderError` when the engine fails.
    """

    name: str

    def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncIterator[Transcript]: ...


@runtime_checkable
class TextToSpeech(Protocol):
    """A synthesiser: speaks one phrase at a time.

    ``synthesize`` yields 8 kHz mu-law bytes as soon as they exist (any chunk
    size), so the first audio of a phrase does not wait for the whole phrase.
    It raises :class:`ProviderError` when the engine fails.
    """

    name: str

    def synthesize(self, text: str) -> AsyncIterator[bytes]: ...


@runtime_checkable
class VoiceActivity(Protocol):
    """A per-call voice activity detector fed frame by frame (cheap, sync).

    ``process`` takes 8 kHz PCM16 of any length and returns the speech
    probability of the most recent complete window, or ``None`` if no window
    completed yet.
    """

    def process(self, pcm: np.ndarray) -> float | None: ...

    def reset(self) -> None: ...


class VoiceActivityFactory(Protocol):
    """Makes one :class:`VoiceActivity` per call (detectors keep state)."""

    def __call__(self) -> VoiceActivity: ...


InputSource = Literal["start", "speech", "dtmf", "silence", "event"]
"""Why the agent is asked to respond: call start (greeting), a caller
utterance, keypad digits, the caller's silence (reprompt), or an event on the
line the dialogue must hear about, named by the text (``"transfer_failed"``:
the call could not be moved and the caller is still there). An event is not
the caller's words."""

TRANSFER_FAILED = "transfer_failed"
"""The ``event`` input after a transfer that did not happen (the call goes on)."""


@dataclass(frozen=True, slots=True)
class CallAction:
    """Something the agent asked the telephony layer to do after its reply.

    Attributes:
        kind: ``"transfer"`` (move the call to ``target``) or ``"hangup"``.
        target: Transfer target number in E.164 (empty for hangup).
        reason: Short human-readable reason, for logs.
    """

    kind: Literal["transfer", "hangup"]
    target: str = ""
    reason: str = ""


@runtime_checkable
class Agent(Protocol):
    """The dialogue for one call (``graphs.runner`` adapts a LangGraph graph).

    One ``respond`` runs at a time. ``cancel`` stops the running reply and
    leaves the dialogue state consistent; ``record_heard`` then stores the
    part of the reply the caller actually heard.

    Optional (not part of the protocol, so agents without it still match):
    ``expecting() -> Mapping[str, Any] | None``, what the caller is asked for
    by the reply just produced. The session reads it once the reply's text is
    out, before its audio ends (callers key during the prompt).
    ``{"kind": "digits", "max_digits": 0, "min_digits": 1, "finish_on_key": "#",
    "timeout_s": 5.0}`` (every key but ``kind`` optional; these are the
    defaults) collects keys into one ``dtmf`` turn, like Twilio's ``<Gather>``:
    see :mod:`telephony.keypad`. ``None``, or no method: every key is its own
    turn at once.
    ``record_spoken(text: str, *, interrupted: bool = False) -> None``, told
    what the session said on its own (a reprompt's goodbye, the apology after
    a failed turn, a transfer announcement), as heard: cut short when
    ``interrupted``. ``GraphAgent`` records it in the checkpoint and the
    transcript, so both say what the caller heard.
    """

    def respond(self, text: str, *, source: InputSource = "speech") -> AsyncIterator[str]:
        """Run one turn; yield the reply's text as it is produced.

        A speech turn whose recogniser gave a confidence is also passed
        ``confidence=`` (a float in [0, 1]); an agent that reads it accepts
        the keyword (``GraphAgent`` does).
        """
        ...

    async def cancel(self) -> None: ...

    async def record_heard(self, text: str) -> None: ...

    def pending_action(self) -> CallAction | Mapping[str, str] | None:
        """The call action requested by the last reply, if any.

        ``graphs`` may return a plain mapping with keys ``kind``, ``target``
        and ``reason`` because it does not import this module.
        """
        ...

    async def aclose(self) -> None: ...


class AgentFactory(Protocol):
    """Opens the :class:`Agent` for one call."""

    async def __call__(self, call: CallInfo) -> Agent: ...


@runtime_checkable
class CallControl(Protocol):
    """Moves or ends a live call (Twilio REST API in production)."""

    async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None: ...

    async def hangup(self, call_sid: str) -> None: ...
