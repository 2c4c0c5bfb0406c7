"""The interfaces between a call session and the speech engines behind it.

The session knows only these protocols; one module per engine implements
them (``pocketsphinx``, ``assemblyai``, ``piper``, ``elevenlabs``, ``silero``),
and only those modules import a vendor SDK. :class:`ProviderError` is every
vendor adapter's failure, Twilio's REST call control
(:mod:`telephony.outbound.twilio_rest`) included. The dialogue's side of the
call (the ``Agent`` protocol, call actions) is :mod:`telephony.call.agent`.

Audio crossing these interfaces is always in the telephone's own format, so
no provider has to guess:

- inbound: :class:`AudioFrame` -- 8 kHz mono, both as the mu-law bytes Twilio
  sent and as decoded PCM16 (``numpy.int16``), usually 20 ms;
- outbound: text-to-speech yields 8 kHz mu-law bytes in any chunk size; the
  session frames and paces them.

What the caller is expected to say next (:class:`Expectation`, read from the
graph's ``Expect`` mapping after each reply) reaches a recogniser that can
use it through the optional :class:`ExpectingSpeechToText` protocol; the
rest never hear of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "AudioFrame",
    "CallInfo",
    "ClosingStream",
    "Expectation",
    "ExpectingSpeechToText",
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


_SPOKEN_KINDS = frozenset({"yes_no", "date", "time", "number", "digits", "choice", "name"})


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the caller's next turn is expected to be, as a recogniser sees it.

    Read from the graph's ``Expect`` mapping (``graphs.runtime.contract.Expect``)
    by :meth:`from_spec`; a recogniser that can use it favours these answers
    from the caller's next utterance on, and still hears anything else.

    Attributes:
        kind: ``yes_no``, ``date``, ``time``, ``number``, ``digits``,
            ``choice``, ``name``, or ``text`` (free speech: only the hints count).
        hints: Phrases the recogniser should favour (a choice's options among them).
        choices: A ``choice``'s options.
        max_digits: A ``digits`` entry's length when it has one (0: any).
    """

    kind: str
    hints: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    max_digits: int = 0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> Expectation | None:
        """The expectation of an ``Expect`` mapping; ``None`` when it favours nothing.

        Lenient, like the keypad's reading of the same mapping: an unknown
        kind counts as free speech, malformed hints and lengths are left out,
        and free speech without hints is ``None`` (the flow's own model).
        """
        if not isinstance(spec, Mapping):
            return None
        kind = spec.get("kind")
        kind = kind if isinstance(kind, str) and kind in _SPOKEN_KINDS else "text"
        hints = _phrases(spec.get("hints"))
        choices = _phrases(spec.get("choices"))
        hints = tuple(dict.fromkeys([*choices, *hints]))  # a choice's options are hints too
        digits = spec.get("max_digits")
        max_digits = digits if isinstance(digits, int) and 0 < digits <= 64 else 0
        if kind == "text" and not hints:
            return None
        return cls(kind, hints, choices, max_digits if kind == "digits" else 0)


def _phrases(value: object) -> tuple[str, ...]:
    """Non-empty strings of a list (anything else is left out), whitespace folded."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return ()
    return tuple(" ".join(v.split()) for v in value if isinstance(v, str) and v.strip())


_T_co = TypeVar("_T_co", covariant=True)


class ClosingStream(Protocol[_T_co]):
    """An async iterator its consumer may close early, as ``contextlib.aclosing`` does.

    The session stops reading a transcript stream, a phrase's audio or a
    reply when the call moves on, and closes it then so the engine's
    connection or the graph run ends at once. An async generator is one;
    so is a class with ``__anext__`` and ``aclose``.
    """

    def __aiter__(self) -> AsyncIterator[_T_co]: ...

    def __anext__(self) -> Awaitable[_T_co]: ...

    def aclose(self) -> Awaitable[object]: ...


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
    ) -> ClosingStream[Transcript]: ...


@runtime_checkable
class ExpectingSpeechToText(Protocol):
    """A recogniser that can be told what a call's next turn is expected to be (optional).

    The session calls ``expect`` after every agent reply with the graph's
    current :class:`Expectation` (``None``: free speech again). It is cheap
    and synchronous (called on the event loop); the engine applies it from
    the caller's next utterance on, never to one in progress. A call the
    engine is not transcribing (yet) keeps the value for when it starts.
    """

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None: ...


@runtime_checkable
class TextToSpeech(Protocol):
    """A synthesiser: speaks one phrase at a time.

    ``synthesize`` yields 8 kHz mu-law bytes as soon as they exist (any chunk
    size), so the first audio of a phrase does not wait for the whole phrase.
    It raises :class:`ProviderError` when the engine fails.
    """

    name: str

    def synthesize(self, text: str) -> ClosingStream[bytes]: ...


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
