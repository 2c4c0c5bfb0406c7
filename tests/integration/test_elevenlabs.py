"""ElevenLabs streaming TTS against a local fake of its stream-input WebSocket.

The provider's real ``websockets`` client talks to ``tests.elevenlabs_fake``
on loopback. Each failure must surface as a ``ProviderError`` fast enough
for the offline voice to take over within the two-second dead-air budget.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest

from telephony.speech.base import ProviderError, TextToSpeech
from telephony.speech.elevenlabs import ElevenLabsTTS, SpeechStream
from telephony.wire.codec import SAMPLE_RATE, ulaw_to_pcm
from tests.elevenlabs_fake import API_KEY, FakeElevenLabs, Fault, closed_port_url

VOICE = "voice-rachel"
GREETING = "Thanks for calling Riverside Family Clinic."
SLOT = "Your appointment is on Tuesday at three."
BUDGET_SLACK_S = 2.0  # generous: proves a bounded failure (no hang) on a busy machine


def _tts(url: str, **kwargs: object) -> ElevenLabsTTS:
    kwargs.setdefault("prewarm", 0)
    return ElevenLabsTTS(API_KEY, VOICE, url=url, **kwargs)  # type: ignore[arg-type]


def _peak_hz(ulaw: bytes) -> float:
    pcm = ulaw_to_pcm(ulaw).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.fft.rfftfreq(pcm.size, 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


async def _collect(stream: SpeechStream) -> tuple[list[bytes], list[float]]:
    """Chunks and their arrival times (monotonic)."""
    chunks, times = [], []
    async for chunk in stream:
        chunks.append(chunk)
        times.append(time.monotonic())
    return chunks, times


async def test_speaks_a_phrase_as_8khz_mulaw_of_the_expected_length() -> None:
    async with FakeElevenLabs() as fake:
        tts = _tts(fake.url)
        assert isinstance(tts, TextToSpeech)
        chunks, _ = await _collect(tts.synthesize(GREETING))

    ulaw = b"".join(chunks)
    assert len(ulaw) == fake.audio_ms(GREETING) * SAMPLE_RATE // 1000  # no resampling
    assert _peak_hz(ulaw) == pytest.approx(fake.tone_hz(GREETING), abs=2)
    session = fake.sessions[0]
    assert session.voice_id == VOICE
    assert session.query["output_format"] == "ulaw_8000"
    assert session.query["model_id"] == "eleven_flash_v2_5"
    assert session.header_key == API_KEY
    assert session.opening == {"text": " "}
    assert session.texts == [GREETING + " ", ""]  # the phrase ends in one space, then EOS
    assert session.messages[0]["flush"] is True


async def test_first_audio_is_yielded_while_the_rest_is_still_generated() -> None:
    async with FakeElevenLabs(chunk_interval=0.03) as fake:
        stream = _tts(fake.url).synthesize(GREETING)
        chunks, times = await _collect(stream)
    final_sent = fake.sessions[0].final_sent_at
    assert final_sent is not None
    assert len(chunks) > 10
    assert times[0] < final_sent - 0.2  # streamed, not buffered until the end
    assert stream.first_audio_ms is not None
    assert stream.first_audio_ms < 200
    assert stream.audio_ms == fake.audio_ms(GREETING)


@pytest.mark.parametrize("durations_key", ["charDurationsMs", "charsDurationsMs"])
async def test_word_alignment_spans_the_whole_phrase(durations_key: str) -> None:
    async with FakeElevenLabs(durations_key=durations_key) as fake:
        stream = _tts(fake.url).synthesize(SLOT)
        await _collect(stream)

    alignment = stream.alignment
    assert alignment is not None
    assert alignment.text == SLOT
    # Chunk-relative times are shifted onto the phrase's timeline.
    assert alignment.start_ms == [i * fake.ms_per_char for i in range(len(SLOT))]
    words = alignment.words()
    assert [w.text for w in words] == SLOT.split()
    assert words[1].start_ms == len("Your ") * fake.ms_per_char
    appointment_ends = len("Your appointment") * fake.ms_per_char
    assert words[1].end_ms == appointment_ends
    # A barge-in half way through "is" keeps only the words fully heard.
    assert alignment.heard_text(appointment_ends + 60) == "Your appointment"
    assert alignment.heard_text(stream.audio_ms) == SLOT


async def test_no_alignment_requested_none_kept() -> None:
    async with FakeElevenLabs() as fake:
        stream = _tts(fake.url, alignment=False).synthesize(SLOT)
        chunks, _ = await _collect(stream)
    assert chunks
    assert stream.alignment is None
    assert "sync_alignment" not in fake.sessions[0].query


async def test_two_calls_speaking_at_once_get_their_own_audio() -> None:
    assert FakeElevenLabs.tone_hz(GREETING) != FakeElevenLabs.tone_hz(SLOT)
    async with FakeElevenLabs(chunk_interval=0.01) as fake:
        tts = _tts(fake.url)  # one provider serves every call of the process
        (greeting, t1), (slot, t2) = await asyncio.gather(
            _collect(tts.synthesize(GREETING)), _collect(tts.synthesize(SLOT))
        )
    assert min(t2) < max(t1) and min(t1) < max(t2)  # the two really overlapped
    for chunks, text in ((greeting, GREETING), (slot, SLOT)):
        ulaw = b"".join(chunks)
        assert len(ulaw) == fake.audio_ms(text) * SAMPLE_RATE // 1000
        assert _peak_hz(ulaw) == pytest.approx(fake.tone_hz(text), abs=2)


async def test_stopping_early_closes_the_socket() -> None:
    async with FakeElevenLabs(chunk_interval=0.05) as fake:
        stream = _tts(fake.url).synthesize(GREETING)
        async for _chunk in stream:
            break  # barge-in: the caller interrupted
        await stream.aclose()
        for _ in range(100):
            if fake.sessions[0].closed_by_client:
                break
            await asyncio.sleep(0.01)
        assert fake.sessions[0].closed_by_client
        assert fake.sessions[0].audio_bytes < fake.audio_ms(GREETING) * 8


@pytest.mark.parametrize(
    ("fault", "tts_options", "retryable", "says"),
    [
        pytest.param(Fault("error"), {}, True, "something went wrong", id="error-message"),
        pytest.param(
            Fault("error", error="quota_exceeded", message="This request exceeds your quota."),
            {},
            False,
            "quota",
            id="quota-error",
        ),
        pytest.param(
            Fault("drop", after_chunks=2), {}, True, "closed before the phrase ended", id="drop"
        ),
        pytest.param(
            Fault("slow_first_audio", seconds=5), {}, True, "no audio within 1.5 s", id="slow"
        ),
        pytest.param(
            Fault("stall", after_chunks=1, seconds=5),
            {"stall_timeout": 0.3},
            True,
            "audio stalled",
            id="stall",
        ),
    ],
)
async def test_vendor_failures_raise_quickly(
    fault: Fault, tts_options: dict[str, float], retryable: bool, says: str
) -> None:
    async with FakeElevenLabs(faults=[fault]) as fake:
        tts = _tts(fake.url, **tts_options)
        chunks: list[bytes] = []
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            async for chunk in tts.synthesize(GREETING):
                chunks.append(chunk)
        elapsed = time.monotonic() - started
    error = caught.value
    assert error.provider == "elevenlabs"
    assert error.retryable is retryable
    assert says in str(error)
    assert elapsed < tts.first_audio_timeout + BUDGET_SLACK_S
    assert len(chunks) == fault.after_chunks  # what was spoken before the failure still played


async def test_refused_connection_raises_at_once() -> None:
    tts = _tts(closed_port_url())
    started = time.monotonic()
    with pytest.raises(ProviderError, match="cannot connect") as caught:
        await anext(tts.synthesize(GREETING))
    assert caught.value.retryable
    assert time.monotonic() - started < 0.5


async def test_slow_handshake_counts_against_first_audio() -> None:
    async with FakeElevenLabs(handshake_delay=5) as fake:
        tts = _tts(fake.url, first_audio_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"no audio within 0\.5 s") as caught:
            await anext(tts.synthesize(GREETING))
        assert caught.value.retryable
        assert time.monotonic() - started < 0.5 + BUDGET_SLACK_S


async def test_wrong_key_is_not_retryable_and_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong_key = "sk-wrong-key-0123456789"
    caplog.set_level(logging.DEBUG, logger="telephony.speech.elevenlabs")
    async with FakeElevenLabs() as fake:
        tts = ElevenLabsTTS(wrong_key, VOICE, url=fake.url, prewarm=0)
        with pytest.raises(ProviderError, match="HTTP 401") as caught:
            await anext(tts.synthesize(GREETING))
    assert not caught.value.retryable
    assert "API key" in str(caught.value)
    assert "xi-api-key" in caplog.text  # the wire log did print the header...
    for shown in (str(caught.value), repr(tts), caplog.text):
        assert wrong_key not in shown  # ...but never the key


async def test_a_short_key_is_masked_in_its_header_and_garbles_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="telephony.speech.elevenlabs")
    async with FakeElevenLabs() as fake:
        tts = ElevenLabsTTS("k", VOICE, url=fake.url, prewarm=0)
        with pytest.raises(ProviderError, match="HTTP 401"):
            await anext(tts.synthesize(GREETING))
    headers = [r.getMessage() for r in caplog.records if r.getMessage().startswith("> ")]
    assert "> xi-api-key: ***" in headers
    assert any(h.startswith("> Sec-WebSocket-Key: ") for h in headers)  # not "websoc***et"


async def test_a_prewarmed_socket_hides_the_handshake() -> None:
    handshake_s = 0.25
    async with FakeElevenLabs(handshake_delay=handshake_s) as fake:
        cold = _tts(fake.url)
        cold_stream = cold.synthesize(GREETING)
        await _collect(cold_stream)

        warm = _tts(fake.url, prewarm=1)
        await warm.warm_up()
        warm_stream = warm.synthesize(GREETING)
        await _collect(warm_stream)
        await warm.warm_up()  # the spare used above was replaced in the background
        assert fake.handshakes == 3
        await warm.aclose()

    assert cold_stream.first_audio_ms is not None
    assert warm_stream.first_audio_ms is not None
    assert cold_stream.first_audio_ms >= handshake_s * 1000
    assert warm_stream.first_audio_ms < handshake_s * 1000 / 2


async def test_a_spare_the_server_timed_out_is_replaced_silently() -> None:
    async with FakeElevenLabs(inactivity_timeout=0.1) as fake:
        tts = _tts(fake.url, prewarm=1)
        await tts.warm_up()
        await asyncio.sleep(0.3)  # the fake closes the idle spare (1008, input timeout)
        chunks, _ = await _collect(tts.synthesize(SLOT))
        await tts.aclose()
    assert len(b"".join(chunks)) == fake.audio_ms(SLOT) * SAMPLE_RATE // 1000
    assert fake.sessions[0].opening is None  # the spare: timed out before any message
    assert [s.texts for s in fake.sessions if s.texts] == [[SLOT + " ", ""]]


async def test_empty_text_opens_no_socket() -> None:
    async with FakeElevenLabs() as fake:
        chunks, _ = await _collect(_tts(fake.url).synthesize("   "))
    assert chunks == []
    assert fake.handshakes == 0


async def test_warm_up_reports_an_unreachable_service() -> None:
    tts = _tts(closed_port_url(), prewarm=1)
    with pytest.raises(ProviderError, match="connection refused"):
        await tts.warm_up()
    await tts.aclose()
