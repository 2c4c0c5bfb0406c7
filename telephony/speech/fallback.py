"""Failover between a cloud engine and the offline one, within a call.

Policy, the same for recognition and synthesis: when the primary engine
raises :class:`~telephony.speech.base.ProviderError`, it is retried once
(``retries``); when it fails again -- or at once, when the error says a
retry cannot help (``retryable=False``: a bad key) -- the fallback engine
serves the rest of the call. Each switch is one WARNING line with the reason.

Recognition (:class:`FallbackSTT`). ``transcribe`` is called once per call,
so its state is per call by construction. The caller's audio goes through
an :class:`_AudioTap` that keeps the frames handed to the current engine
since its last final transcript (at most ``replay_ms``). When the engine
fails, the next one (the retried primary or the fallback) gets those frames
first, then the live audio: the words the caller said while the session
was failing are recognised, not lost. Audio that arrives while the next
engine starts waits in the session's queue, so nothing is dropped either.
What the call expects (:meth:`FallbackSTT.expect`) goes to the engine serving
it, and to the next one as it takes over, so a switch keeps the bias.
The tap pulls from the session's audio in a task of its own, shielded from
the engines' cancellation: cancelling a task blocked in an async
generator's ``__anext__`` would finish that generator, and the call's
audio with it.

Synthesis (:class:`FallbackTTS`). A phrase the primary fails to speak --
an error, or no audio within ``first_audio_timeout`` -- is spoken again
from its start by the fallback at once, so the caller hears at most that
timeout of silence. The next phrase tries the primary again (the retry);
after ``retries`` failed phrases the fallback speaks the rest of the call.
Text-to-speech engines are process-wide and ``synthesize`` has no call, so
the failure count lives in the wrapper object: the session should use
``tts.for_call()`` (a fresh count sharing the same engines) for each call.
Used directly, one wrapper's count is shared by every call in the process
and never resets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal

from telephony.speech.base import (
    AudioFrame,
    CallInfo,
    Expectation,
    ProviderError,
    SpeechToText,
    TextToSpeech,
    Transcript,
)
from telephony.speech.expectation import ExpectationBoard
from telephony.wire.codec import SAMPLE_RATE

__all__ = [
    "DEFAULT_FIRST_AUDIO_TIMEOUT_S",
    "DEFAULT_REPLAY_MS",
    "FailoverEvent",
    "FallbackSTT",
    "FallbackTTS",
]

logger = logging.getLogger("dialgraph.providers.fallback")

DEFAULT_REPLAY_MS = 2000  # a caller's sentence in progress; bounds the catch-up burst too
# Piper's first audio comes 110-210 ms after the text: 1.5 s + that stays under 2 s of silence.
DEFAULT_FIRST_AUDIO_TIMEOUT_S = 1.5
_BYTES_PER_MS = SAMPLE_RATE // 1000


@dataclass(frozen=True, slots=True)
class FailoverEvent:
    """One switch of engine, for metrics and tests.

    Attributes:
        kind: ``"stt"`` or ``"tts"``.
        call_sid: The call (``""`` for text-to-speech used without ``for_call``).
        failed: Name of the engine that failed.
        reason: The error, as logged.
        action: ``"retry"`` (the primary again) or ``"fallback"`` (the rest of the call).
        next_engine: Name of the engine that takes over.
        replay_ms: Audio handed to the next recogniser before live audio.
        at: ``time.monotonic()`` of the switch.
    """

    kind: Literal["stt", "tts"]
    call_sid: str
    failed: str
    reason: str
    action: Literal["retry", "fallback"]
    next_engine: str
    replay_ms: int
    at: float


FailoverObserver = Callable[[FailoverEvent], None]


class _AudioTap:
    """The call's audio, shared by successive engines, with a replay of the recent past."""

    def __init__(self, source: AsyncIterable[AudioFrame], replay_ms: int) -> None:
        self._source = aiter(source)
        self._pull: asyncio.Future[AudioFrame | None] | None = None
        self._handed: deque[AudioFrame] = deque()  # to the current engine, since its last final
        self._replay: deque[AudioFrame] = deque()  # for the next engine, before live audio
        self._max_bytes = replay_ms * _BYTES_PER_MS
        self.ended = False

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        """The audio for one engine: the replay first, then live frames."""
        while True:
            if self._replay:
                frame = self._replay.popleft()
            elif self.ended:
                return
            else:
                next_frame = await self._next()
                if next_frame is None:
                    self.ended = True
                    return
                frame = next_frame
            self._handed.append(frame)
            yield frame

    async def _next(self) -> AudioFrame | None:
        if self._pull is None:
            self._pull = asyncio.ensure_future(_anext_or_none(self._source))
        # Cancelling this await (the engine failed) leaves the pull running for the next engine.
        frame = await asyncio.shield(self._pull)
        self._pull = None
        return frame

    def commit(self) -> None:
        """The current engine finished an utterance: nothing before now needs replaying."""
        self._handed.clear()

    def rewind(self) -> int:
        """Queue what the failed engine may not have recognised; returns its duration in ms."""
        self._replay = deque([*self._handed, *self._replay])
        self._handed.clear()
        size = sum(len(f.ulaw) for f in self._replay)
        while self._replay and size > self._max_bytes:
            size -= len(self._replay.popleft().ulaw)
        return size // _BYTES_PER_MS

    async def aclose(self) -> None:
        pull, self._pull = self._pull, None
        if pull is None:
            return
        if pull.done():
            if not pull.cancelled():
                pull.exception()  # retrieved: the call is over either way
            return
        pull.cancel()
        await asyncio.wait({pull})


async def _anext_or_none(source: AsyncIterator[AudioFrame]) -> AudioFrame | None:
    return await anext(source, None)


class FallbackSTT:
    """A recogniser that fails over from ``primary`` to ``fallback`` within a call.

    Args:
        primary: The preferred engine (e.g. AssemblyAI).
        fallback: The engine for the rest of the call once the primary gave up
            (e.g. pocketsphinx). Its own failures propagate.
        retries: Times the primary is reopened after a retryable failure, per call.
        replay_ms: Most audio replayed to the next engine after a failure.
        on_failover: Called with a :class:`FailoverEvent` at every switch.
    """

    def __init__(
        self,
        primary: SpeechToText,
        fallback: SpeechToText,
        *,
        retries: int = 1,
        replay_ms: int = DEFAULT_REPLAY_MS,
        on_failover: FailoverObserver | None = None,
    ) -> None:
        if retries < 0 or replay_ms < 0:
            raise ValueError("retries and replay_ms must be >= 0")
        self.primary = primary
        self.fallback = fallback
        self.retries = retries
        self.replay_ms = replay_ms
        self.on_failover = on_failover
        self.name = f"{primary.name}/{fallback.name}"
        self._board = ExpectationBoard()
        self._serving: dict[str, SpeechToText] = {}  # call -> the engine transcribing it

    def __repr__(self) -> str:
        return f"FallbackSTT({self.primary!r}, {self.fallback!r}, retries={self.retries})"

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None:
        """Tell the engine serving ``call`` what its next turn is expected to be."""
        self._board.expect(call.call_sid, expectation)
        engine = self._serving.get(call.call_sid)
        if engine is not None:
            _tell(engine, call, expectation)

    async def warm_up(self, decoders: int = 1) -> None:
        """Warm whichever engine needs it (the offline fallback loads models)."""
        for engine in (self.primary, self.fallback):
            warm = getattr(engine, "warm_up", None)
            if warm is not None:
                await warm(decoders)

    async def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncGenerator[Transcript, None]:
        """Recognise the call's audio, switching engine when one fails.

        Raises:
            ProviderError: The fallback engine failed too.
        """
        tap = _AudioTap(audio, self.replay_ms)
        engine, failures = self.primary, 0
        listening = self._board.open(call.call_sid)
        try:
            while True:
                # Before it starts: an engine keeps what a call expects until it does.
                self._serving[call.call_sid] = engine
                _tell(engine, call, listening.expectation)
                try:
                    async with contextlib.aclosing(
                        engine.transcribe(tap.frames(), call=call)
                    ) as results:
                        async for result in results:
                            if result.is_final:
                                tap.commit()
                            yield result
                    return
                except ProviderError as exc:
                    if engine is self.fallback:
                        raise
                    failures += 1
                    retry = exc.retryable and failures <= self.retries
                    engine = self.primary if retry else self.fallback
                    replay_ms = tap.rewind()
                    self._switched(call, exc, retry, replay_ms)
        finally:
            if self._serving.get(call.call_sid) is engine:
                del self._serving[call.call_sid]
            self._board.close(call.call_sid, listening)
            await tap.aclose()

    def _switched(self, call: CallInfo, exc: ProviderError, retry: bool, replay_ms: int) -> None:
        next_engine = self.primary if retry else self.fallback
        logger.warning(
            "[%s] speech recognition: %s failed (%s); %s, replaying %d ms",
            call.call_sid,
            self.primary.name,
            exc,
            "retrying it" if retry else f"switching to {next_engine.name} for the rest of the call",
            replay_ms,
        )
        if self.on_failover is not None:
            self.on_failover(
                FailoverEvent(
                    "stt",
                    call.call_sid,
                    self.primary.name,
                    str(exc),
                    "retry" if retry else "fallback",
                    next_engine.name,
                    replay_ms,
                    time.monotonic(),
                )
            )


def _tell(engine: SpeechToText, call: CallInfo, expectation: Expectation | None) -> None:
    """Pass an expectation to an engine that takes one (others have no ``expect``)."""
    expect = getattr(engine, "expect", None)
    if expect is not None:
        expect(call, expectation)


class FallbackTTS:
    """A synthesiser that fails over from ``primary`` to ``fallback``.

    Args:
        primary: The preferred engine (e.g. ElevenLabs).
        fallback: The engine that re-speaks failed phrases and, after
            ``retries`` failed phrases, speaks the rest of the call (e.g. Piper).
        retries: Phrases the primary may fail before the fallback takes over.
        first_audio_timeout: Seconds the primary may take to its first audio
            (``None``: no limit); a late phrase counts as failed.
        call: The call this wrapper serves (for logs); see :meth:`for_call`.
        on_failover: Called with a :class:`FailoverEvent` at every switch.
    """

    def __init__(
        self,
        primary: TextToSpeech,
        fallback: TextToSpeech,
        *,
        retries: int = 1,
        first_audio_timeout: float | None = DEFAULT_FIRST_AUDIO_TIMEOUT_S,
        call: CallInfo | None = None,
        on_failover: FailoverObserver | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.primary = primary
        self.fallback = fallback
        self.retries = retries
        self.first_audio_timeout = first_audio_timeout
        self.call_sid = call.call_sid if call is not None else ""
        self.on_failover = on_failover
        self.name = f"{primary.name}/{fallback.name}"
        self.failures = 0
        self.switched = False

    def __repr__(self) -> str:
        return f"FallbackTTS({self.primary!r}, {self.fallback!r}, switched={self.switched})"

    def for_call(self, call: CallInfo | None = None) -> FallbackTTS:
        """A wrapper for one call: same engines and policy, its own failure count."""
        return FallbackTTS(
            self.primary,
            self.fallback,
            retries=self.retries,
            first_audio_timeout=self.first_audio_timeout,
            call=call,
            on_failover=self.on_failover,
        )

    async def warm_up(self) -> None:
        """Warm whichever engine needs it."""
        for engine in (self.primary, self.fallback):
            warm = getattr(engine, "warm_up", None)
            if warm is not None:
                await warm()

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Speak ``text`` on the primary, or on the fallback if the primary fails.

        Raises:
            ProviderError: The fallback engine failed too.
        """
        if not self.switched:
            try:
                async for chunk in self._primary(text):
                    yield chunk
                return
            except ProviderError as exc:
                self._failed(exc)
        async with contextlib.aclosing(self.fallback.synthesize(text)) as audio:
            async for chunk in audio:
                yield chunk

    async def _primary(self, text: str) -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(self.primary.synthesize(text)) as audio:
            try:
                async with asyncio.timeout(self.first_audio_timeout):
                    first = await anext(audio, None)
            except TimeoutError:
                raise ProviderError(
                    self.primary.name,
                    f"no audio within {self.first_audio_timeout:g} s",
                    retryable=True,
                ) from None
            if first is None:
                return
            yield first
            async for chunk in audio:
                yield chunk

    def _failed(self, exc: ProviderError) -> None:
        self.failures += 1
        self.switched = not exc.retryable or self.failures > self.retries
        logger.warning(
            "[%s] speech synthesis: %s failed (%s); %s speaks %s",
            self.call_sid or "-",
            self.primary.name,
            exc,
            self.fallback.name,
            "the rest of the call" if self.switched else "this phrase",
        )
        if self.on_failover is not None:
            self.on_failover(
                FailoverEvent(
                    "tts",
                    self.call_sid,
                    self.primary.name,
                    str(exc),
                    "fallback" if self.switched else "retry",
                    self.fallback.name,
                    0,
                    time.monotonic(),
                )
            )
