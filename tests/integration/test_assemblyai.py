"""AssemblyAI streaming recognition and engine failover, against a fake service on loopback.

:class:`~telephony.speech.assemblyai.AssemblyAISTT` talks real WebSocket
to :class:`tests.assemblyai_fake.FakeAssemblyAI`, which speaks the vendor's
documented v3 protocol (and is itself checked against the vendor's SDK
below). Caller audio arrives as the call session delivers it: 20 ms
mu-law frames from an async generator over a queue, pushed by the test
one utterance at a time, so "when" is always the order of events, not the
wall clock. Failover is checked for every vendor failure the issue names:
the primary is retried once, then the offline engine (a fake here) hears
the rest of the call, including the words spoken while the vendor failed.
The text-to-speech failover policy is tested at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable

import pytest

from telephony.speech.assemblyai import AssemblyAISTT
from telephony.speech.base import (
    AudioFrame,
    CallInfo,
    ProviderError,
    SpeechToText,
    TextToSpeech,
    Transcript,
)
from telephony.speech.fallback import FailoverEvent, FallbackSTT, FallbackTTS
from telephony.wire.codec import FRAME_BYTES, ulaw_silence, ulaw_to_pcm
from tests.assemblyai_fake import API_KEY, FakeAssemblyAI, Fault, refused_url, unformatted
from tests.fakes import FakeSTT, FakeTTS, tone_ulaw

CALL = CallInfo(call_sid="CA" + "a" * 32, stream_sid="MZ" + "b" * 32)
SCRIPT = ["I'd like to book a checkup.", "Is Doctor Patel in on Friday?", "Thank you, goodbye."]
FALLBACK_SCRIPT = ["fallback one", "fallback two", "fallback three"]
KEYTERMS = ["Riverside Family Clinic", "Doctor Patel", "Doctor Nguyen", "checkup", "vaccination"]
SPEECH_MS, PAUSE_MS = 600, 400  # one caller utterance: a 600 ms burst, then 400 ms of silence
UTTERANCE_MS = SPEECH_MS + PAUSE_MS
FAILOVER_LOGGER = "dialgraph.providers.fallback"
WAIT_S = 5.0  # a bound for a broken test, never reached by a passing one


def speech(n: int) -> bytes:
    """The n-th utterance's voiced part (a distinct tone, so it can be found in a recording)."""
    return tone_ulaw(SPEECH_MS, freq=400.0 + 110.0 * n)


def utterance(n: int) -> bytes:
    return speech(n) + ulaw_silence(PAUSE_MS)


class LiveAudio:
    """The caller's side, delivered like ``CallSession._audio_stream``: a generator over a queue."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._timestamp = 0

    def say(self, ulaw: bytes) -> None:
        for i in range(0, len(ulaw), FRAME_BYTES):
            chunk = ulaw[i : i + FRAME_BYTES]
            self._queue.put_nowait(AudioFrame(chunk, ulaw_to_pcm(chunk), self._timestamp))
            self._timestamp += 20

    def hang_up(self) -> None:
        self._queue.put_nowait(None)

    async def stream(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._queue.get()) is not None:
            yield frame


class Recogniser:
    """Runs one call's ``transcribe`` and keeps every result with the time it arrived."""

    def __init__(self, stt: SpeechToText, live: LiveAudio) -> None:
        self.results: list[tuple[float, Transcript]] = []
        self._wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(stt, live))
        self.task.add_done_callback(lambda _: self._wake.set())

    async def _run(self, stt: SpeechToText, live: LiveAudio) -> None:
        async for transcript in stt.transcribe(live.stream(), call=CALL):
            self.results.append((time.monotonic(), transcript))
            self._wake.set()

    def transcripts(self) -> list[Transcript]:
        return [t for _, t in self.results]

    def finals(self) -> list[str]:
        return [t.text for t in self.transcripts() if t.is_final]

    async def wait_finals(self, count: int) -> None:
        await self.wait_until(lambda: len(self.finals()) >= count)

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                if self.task.done():
                    self.task.result()
                    raise AssertionError(f"recognition ended after {self.transcripts()}")
                self._wake.clear()
                await self._wake.wait()

    async def done(self) -> None:
        async with asyncio.timeout(WAIT_S):
            await self.task


async def converse(stt: SpeechToText, utterances: int = 3) -> Recogniser:
    """A call: each utterance is spoken once the previous one was recognised, then hang up."""
    live = LiveAudio()
    recogniser = Recogniser(stt, live)
    for n in range(utterances):
        live.say(utterance(n))
        await recogniser.wait_finals(n + 1)
    live.hang_up()
    await recogniser.done()
    return recogniser


class RecordingSTT(FakeSTT):
    """The offline engine's stand-in: FakeSTT that also keeps the audio it was given."""

    def __init__(self, utterances: list[str]) -> None:
        super().__init__(utterances)
        self.received = bytearray()
        self.calls = 0

    def transcribe(
        self, audio: AsyncIterable[AudioFrame], *, call: CallInfo
    ) -> AsyncIterator[Transcript]:
        self.calls += 1
        return super().transcribe(self._record(audio), call=call)

    async def _record(self, audio: AsyncIterable[AudioFrame]) -> AsyncIterator[AudioFrame]:
        async for frame in audio:
            self.received += frame.ulaw
            yield frame


# -- the recogniser on a healthy service ----------------------------------------


@pytest.mark.parametrize("format_turns", [False, True], ids=["unformatted", "format_turns"])
async def test_partials_grow_then_each_turn_ends_in_one_final(format_turns: bool) -> None:
    async with FakeAssemblyAI(SCRIPT) as fake:
        stt = AssemblyAISTT(API_KEY, url=fake.url, format_turns=format_turns)
        assert isinstance(stt, SpeechToText)
        recogniser = await converse(stt, utterances=2)

    expected = SCRIPT[:2] if format_turns else [unformatted(t) for t in SCRIPT[:2]]
    assert recogniser.finals() == expected
    turn: list[Transcript] = []
    for transcript in recogniser.transcripts():
        if not transcript.is_final:
            turn.append(transcript)
            continue
        assert transcript.end_of_turn and transcript.confidence == pytest.approx(0.9)
        spoken = unformatted(transcript.text)
        partials = [p.text for p in turn]
        assert len(partials) >= 3, "the caller's words show up while they speak"
        assert all(spoken.startswith(p) for p in partials)
        assert [len(p) for p in partials] == sorted({len(p) for p in partials})  # growing
        turn = []
    assert turn == []


async def test_mulaw_reaches_the_service_unchanged_in_50_ms_messages() -> None:
    tail = tone_ulaw(130, freq=700.0)  # the caller still speaking at hang-up: not 50 ms aligned
    audio = utterance(0) + tail
    async with FakeAssemblyAI(SCRIPT) as fake:
        stt = AssemblyAISTT(API_KEY, url=fake.url)
        live = LiveAudio()
        recogniser = Recogniser(stt, live)
        live.say(audio)
        live.hang_up()
        await recogniser.done()

    conn = fake.connections[0]
    assert bytes(conn.audio[: len(audio)]) == audio
    assert set(conn.audio[len(audio) :]) <= {0xFF}, "only mu-law silence pads the last message"
    assert conn.chunk_ms == [50.0] * len(conn.chunk_ms)
    assert conn.client_messages == [{"type": "Terminate"}]
    assert len(conn.of("Termination")) == 1 and conn.close_code == 1000
    # The words in flight at hang-up still arrive (Terminate ends the turn in progress).
    assert recogniser.finals() == [unformatted(SCRIPT[0]), unformatted(SCRIPT[1])]


async def test_query_carries_settings_and_keyterms_and_the_key_stays_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # websockets would print handshake headers at DEBUG
    messy = [*KEYTERMS, "checkup", "  Doctor   Patel ", "x" * 60, ""]
    async with FakeAssemblyAI(SCRIPT) as fake:
        stt = AssemblyAISTT(
            API_KEY,
            url=fake.url,
            keyterms=messy,
            end_of_turn_confidence=0.6,
            min_end_of_turn_silence_ms=300,
            max_turn_silence_ms=1200,
        )
        await converse(stt, utterances=1)

    query = fake.connections[0].query
    assert query["sample_rate"] == "8000" and query["encoding"] == "pcm_mulaw"
    assert query["speech_model"] == "universal-streaming-english"
    assert query["format_turns"] == "false"
    assert json.loads(query["keyterms_prompt"]) == KEYTERMS
    assert query["end_of_turn_confidence_threshold"] == "0.6"
    assert query["min_end_of_turn_silence_when_confident"] == "300"
    assert query["max_turn_silence"] == "1200"
    assert fake.connections[0].authorization == API_KEY
    assert "kept 5 of 6" in caplog.text  # the over-long term was dropped, and said so
    assert any(r.name == "dialgraph.asr.assemblyai" for r in caplog.records)
    for text in (caplog.text, repr(stt), stt.session_url):
        assert API_KEY not in text


async def test_call_torn_down_mid_utterance_still_ends_the_vendor_session() -> None:
    async with FakeAssemblyAI(SCRIPT) as fake:
        live = LiveAudio()
        recogniser = Recogniser(AssemblyAISTT(API_KEY, url=fake.url), live)
        live.say(speech(0))  # the caller is mid-sentence when the call is torn down
        await recogniser.wait_until(lambda: len(recogniser.results) >= 2)
        recogniser.task.cancel()  # what CallSession's teardown does to the recogniser
        await asyncio.wait({recogniser.task})
        conn = fake.connections[0]
        async with asyncio.timeout(WAIT_S):
            await conn.closed.wait()
    assert conn.client_messages == [{"type": "Terminate"}] and conn.close_code == 1000


async def test_formatted_copy_that_never_comes_does_not_hold_the_turn() -> None:
    async with FakeAssemblyAI(SCRIPT, send_formatted=False) as fake:
        stt = AssemblyAISTT(API_KEY, url=fake.url, format_turns=True, format_wait=0.05)
        recogniser = await converse(stt, utterances=2)
    assert recogniser.finals() == [unformatted(t) for t in SCRIPT[:2]]


async def test_the_vendor_sdk_accepts_the_fake_service() -> None:
    """The fake is held to the vendor's own client: its models parse every message."""
    from assemblyai.streaming.v3 import (
        AsyncStreamingClient,
        Encoding,
        SpeechModel,
        StreamingClientOptions,
        StreamingEvents,
        StreamingParameters,
    )

    events: dict[str, list] = {"begin": [], "turn": [], "end": [], "error": []}
    async with FakeAssemblyAI(SCRIPT) as fake:
        client = AsyncStreamingClient(
            StreamingClientOptions(api_key=API_KEY, api_host=fake.host, max_connection_retries=0)
        )
        for event, key in (
            (StreamingEvents.Begin, "begin"),
            (StreamingEvents.Turn, "turn"),
            (StreamingEvents.Termination, "end"),
            (StreamingEvents.Error, "error"),
        ):
            client.on(event, lambda _client, message, key=key: events[key].append(message))
        await client.connect(
            StreamingParameters(
                sample_rate=8000,
                encoding=Encoding.pcm_mulaw,
                speech_model=SpeechModel.universal_streaming_english,
                format_turns=True,
                keyterms_prompt=["Doctor Patel"],
            )
        )
        audio = utterance(0)
        await client.stream([audio[i : i + 400] for i in range(0, len(audio), 400)])
        await client.disconnect(terminate=True)

    assert events["error"] == [] and len(events["begin"]) == 1 and len(events["end"]) == 1
    finals = [t for t in events["turn"] if t.end_of_turn]
    assert [(t.transcript, t.turn_is_formatted) for t in finals] == [
        (unformatted(SCRIPT[0]), False),
        (SCRIPT[0], True),
    ]
    assert json.loads(fake.connections[0].query["keyterms_prompt"]) == ["Doctor Patel"]


# -- failover -------------------------------------------------------------------

MID_CALL_MS = UTTERANCE_MS + 200  # the first session dies 200 ms into the second utterance

FAILURES = [
    pytest.param(None, id="connection refused"),
    pytest.param([Fault("reject", status=503)] * 2, id="handshake rejected"),
    pytest.param([Fault("slow_begin", delay=5.0)] * 2, id="slow first message"),
    pytest.param(
        [Fault("close", after_ms=MID_CALL_MS), Fault("close", after_ms=100)],
        id="disconnect mid-call",
    ),
    pytest.param(
        [Fault("error", after_ms=MID_CALL_MS), Fault("error", after_ms=100)],
        id="error message mid-call",
    ),
]


def failover_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == FAILOVER_LOGGER]


@pytest.mark.parametrize("faults", FAILURES)
async def test_vendor_failure_is_retried_once_then_the_offline_engine_hears_the_rest(
    faults: list[Fault] | None, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[FailoverEvent] = []
    offline = RecordingSTT(FALLBACK_SCRIPT)
    async with FakeAssemblyAI(SCRIPT, faults=faults or ()) as fake:
        primary = AssemblyAISTT(
            API_KEY, url=fake.url if faults else refused_url(), first_message_timeout=0.05
        )
        stt = FallbackSTT(primary, offline, on_failover=events.append)
        recogniser = await converse(stt)

    mid_call = faults is not None and faults[0].kind in ("close", "error")
    if mid_call:  # the first utterance was AssemblyAI's; the one cut off is the fallback's
        assert recogniser.finals() == [unformatted(SCRIPT[0]), *FALLBACK_SCRIPT[:2]]
    else:
        assert recogniser.finals() == FALLBACK_SCRIPT
    assert fake.attempts == (2 if faults else 0)
    assert [(e.action, e.failed, e.next_engine) for e in events] == [
        ("retry", "assemblyai", "assemblyai"),
        ("fallback", "assemblyai", "fake-stt"),
    ]
    warnings = failover_records(caplog)
    assert [r.levelno for r in warnings] == [logging.WARNING] * 2
    assert "switching to fake-stt for the rest of the call" in warnings[1].getMessage()
    # Nothing the caller said during the failure is lost: the utterance that was
    # being streamed reached the offline engine whole, replayed from before the cut.
    cut = 1 if mid_call else 0
    assert speech(cut) in offline.received
    if mid_call:  # the replay holds at least what the dead session had of the utterance
        assert 200 <= events[0].replay_ms <= events[1].replay_ms <= 2000
    else:  # nothing was consumed: the utterance waited in the call's queue
        assert [e.replay_ms for e in events] == [0, 0]
    # Bounded: the fallback recognised the cut-off utterance from audio already
    # spoken (converse() says nothing more until that final arrives).
    first_fallback = next(at for at, t in recogniser.results if t.text == FALLBACK_SCRIPT[0])
    print(f"\n{events[-1].reason}: fallback final {1000 * (first_fallback - events[-1].at):.0f} ms")


async def test_retry_that_works_keeps_the_call_on_the_vendor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[FailoverEvent] = []
    offline = RecordingSTT(FALLBACK_SCRIPT)
    async with FakeAssemblyAI(SCRIPT, faults=[Fault("close", after_ms=MID_CALL_MS)]) as fake:
        stt = FallbackSTT(AssemblyAISTT(API_KEY, url=fake.url), offline, on_failover=events.append)
        recogniser = await converse(stt)

    assert recogniser.finals() == [unformatted(t) for t in SCRIPT]
    assert [e.action for e in events] == ["retry"] and offline.calls == 0
    assert speech(1) in fake.connections[1].audio, "the reconnected session heard the cut words"
    assert len(failover_records(caplog)) == 1


async def test_rejected_key_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    events: list[FailoverEvent] = []
    async with FakeAssemblyAI(SCRIPT) as fake:
        primary = AssemblyAISTT("not-the-key", url=fake.url)
        stt = FallbackSTT(primary, RecordingSTT(FALLBACK_SCRIPT), on_failover=events.append)
        recogniser = await converse(stt, utterances=2)

    assert recogniser.finals() == FALLBACK_SCRIPT[:2]
    assert fake.attempts == 1 and fake.connections[0].close_code == 1008
    assert [e.action for e in events] == ["fallback"] and "1008" in events[0].reason
    assert len(failover_records(caplog)) == 1


async def test_healthy_service_never_touches_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[FailoverEvent] = []
    offline = RecordingSTT(FALLBACK_SCRIPT)
    async with FakeAssemblyAI(SCRIPT) as fake:
        stt = FallbackSTT(AssemblyAISTT(API_KEY, url=fake.url), offline, on_failover=events.append)
        assert isinstance(stt, SpeechToText) and stt.name == "assemblyai/fake-stt"
        recogniser = await converse(stt)

    assert recogniser.finals() == [unformatted(t) for t in SCRIPT]
    assert events == [] and offline.calls == 0 and failover_records(caplog) == []
    assert fake.attempts == 1


async def test_fallback_failure_reaches_the_session() -> None:
    class BrokenSTT(FakeSTT):
        async def transcribe(self, audio, *, call):  # type: ignore[override]
            raise ProviderError("offline", "no decoder")
            yield  # pragma: no cover

    stt = FallbackSTT(AssemblyAISTT(API_KEY, url=refused_url()), BrokenSTT([]), retries=0)
    live = LiveAudio()
    recogniser = Recogniser(stt, live)
    live.say(utterance(0))
    with pytest.raises(ProviderError, match="no decoder"):
        await recogniser.done()


# -- text-to-speech failover ------------------------------------------------------


class CloudTTS:
    """A cloud voice that fails on the given attempts (all of them by default)."""

    name = "cloud-tts"

    def __init__(self, failing: set[int] | None = None, *, retryable: bool = True) -> None:
        self.failing = failing
        self.retryable = retryable
        self.attempts = 0

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        self.attempts += 1
        if self.failing is None or self.attempts in self.failing:
            raise ProviderError(self.name, "HTTP 503", retryable=self.retryable)
        yield b"\x11" * 800


async def speak(tts: TextToSpeech, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def offline_voice(text: str) -> bytes:
    return tone_ulaw(10 * len(text))  # what FakeTTS says


async def test_tts_failed_phrase_is_respoken_then_the_fallback_takes_over_for_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloud = CloudTTS()
    shared = FallbackTTS(cloud, FakeTTS())
    assert isinstance(shared, TextToSpeech)
    tts = shared.for_call(CALL)

    assert await speak(tts, "Hello there.") == offline_voice("Hello there.")
    assert (cloud.attempts, tts.switched) == (1, False)
    assert await speak(tts, "How can I help?") == offline_voice("How can I help?")
    assert (cloud.attempts, tts.switched) == (2, True)  # the retry failed too
    assert await speak(tts, "Goodbye.") == offline_voice("Goodbye.")
    assert cloud.attempts == 2, "the rest of the call does not wait on the failing vendor"

    next_call = shared.for_call(CallInfo(call_sid="CA" + "c" * 32, stream_sid="MZ" + "d" * 32))
    await speak(next_call, "Hello.")
    assert cloud.attempts == 3, "the next call tries the vendor again"
    assert [r.levelno for r in failover_records(caplog)] == [logging.WARNING] * 3


async def test_tts_vendor_that_recovers_on_the_retry_keeps_speaking() -> None:
    cloud = CloudTTS(failing={1})
    tts = FallbackTTS(cloud, FakeTTS()).for_call(CALL)
    assert await speak(tts, "Hello there.") == offline_voice("Hello there.")
    assert await speak(tts, "How can I help?") == b"\x11" * 800
    assert await speak(tts, "Goodbye.") == b"\x11" * 800
    assert not tts.switched


async def test_tts_silent_vendor_is_cut_short_and_the_phrase_spoken_by_the_fallback() -> None:
    events: list[FailoverEvent] = []
    slow = FakeTTS(delay=30.0)
    tts = FallbackTTS(slow, FakeTTS(), first_audio_timeout=0.05, on_failover=events.append)
    tts = tts.for_call(CALL)
    assert await speak(tts, "Hello there.") == offline_voice("Hello there.")
    assert "no audio within 0.05 s" in events[0].reason and events[0].action == "retry"


async def test_tts_error_that_a_retry_cannot_fix_switches_at_once() -> None:
    cloud = CloudTTS(retryable=False)
    tts = FallbackTTS(cloud, FakeTTS()).for_call(CALL)
    await speak(tts, "Hello there.")
    await speak(tts, "Goodbye.")
    assert cloud.attempts == 1 and tts.switched
