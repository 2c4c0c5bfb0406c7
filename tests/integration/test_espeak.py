"""eSpeak NG, the simulated callers' second voice family: the real library from its wheel.

Skipped without the ``eval`` extra, except the test that says how to install it.
"""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from bench.bench_speech import recognise, words_of
from telephony.speech import espeak
from telephony.speech.base import ProviderError, TextToSpeech
from telephony.speech.espeak import EspeakTTS
from telephony.speech.pocketsphinx import PocketsphinxSTT
from telephony.wire.codec import SAMPLE_RATE, rms_dbfs, ulaw_to_pcm
from tests.pitch import median_f0_hz

BOOK = "Hello, I would like to book a checkup."


@pytest.fixture(scope="module")
def installed() -> None:
    pytest.importorskip(
        "espeakng_loader", reason="the eval extra is not installed (uv sync --extra eval)"
    )


@pytest.fixture(scope="module")
def us(installed: None) -> EspeakTTS:
    tts = EspeakTTS("en-us")
    asyncio.run(tts.warm_up())
    return tts


@pytest.fixture(scope="module")
def gb_female(installed: None) -> EspeakTTS:
    return EspeakTTS("en-gb", gender="female")


async def _speak(tts: TextToSpeech, text: str) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def _f0_hz(ulaw: bytes) -> float:
    return median_f0_hz(ulaw_to_pcm(ulaw))


async def test_speaks_a_phrase_as_audible_8khz_mulaw(us: EspeakTTS) -> None:
    assert isinstance(us, TextToSpeech)
    assert us.name == "espeak"
    ulaw = await _speak(us, BOOK)
    seconds, level = len(ulaw) / SAMPLE_RATE, rms_dbfs(ulaw_to_pcm(ulaw))
    print(f"\nespeak en-us: {BOOK!r}: {seconds:.2f} s of audio at {level:.1f} dBFS")
    assert 1.0 < seconds < 5.0  # seven words at 175 words per minute: about 2 s
    assert level > -35  # speech, not silence


async def test_the_offline_recogniser_understands_some_of_it(us: EspeakTTS) -> None:
    stt = PocketsphinxSTT()  # the generic model, as the eval's ear uses it
    await stt.warm_up()
    heard = await recognise(stt, BOOK, await _speak(us, BOOK))
    right = set(words_of(BOOK)) & set(words_of(heard.text))
    print(f"\nespeak en-us through pocketsphinx (generic): {heard.text!r}, words right: {right}")
    assert len(right) >= 2, heard.text


async def test_two_voices_sound_different(us: EspeakTTS, gb_female: EspeakTTS) -> None:
    male, female = await _speak(us, BOOK), await _speak(gb_female, BOOK)
    print(f"\nF0: en-us {_f0_hz(male):.0f} Hz, en-gb female {_f0_hz(female):.0f} Hz")
    assert male != female
    assert _f0_hz(female) > 1.3 * _f0_hz(male)


async def test_rate_and_pitch_change_the_voice(installed: None) -> None:
    normal = await _speak(EspeakTTS("en-us"), BOOK)
    slow = await _speak(EspeakTTS("en-us", rate=120), BOOK)
    high = await _speak(EspeakTTS("en-us", pitch=90), BOOK)
    assert len(slow) > 1.25 * len(normal)
    assert _f0_hz(high) > 1.2 * _f0_hz(normal)


async def test_a_second_phrase_works_after_the_first(us: EspeakTTS) -> None:
    first = await _speak(us, BOOK)
    second = await _speak(us, "What time do you close on Saturday?")
    again = await _speak(us, BOOK)
    assert first and second and again
    # The library carries a little state from one utterance to the next: the
    # same text comes out within a few milliseconds of the same length.
    assert abs(len(again) - len(first)) < 0.05 * len(first)


async def test_concurrent_calls_keep_their_own_voices(us: EspeakTTS, gb_female: EspeakTTS) -> None:
    async def speak_many(tts: EspeakTTS) -> list[bytes]:
        return [await _speak(tts, f"{BOOK} Number {i}.") for i in range(6)]

    males, females = await asyncio.gather(speak_many(us), speak_many(gb_female))
    assert all(males) and all(females)
    # Voice and parameters are global in the library: each phrase still got its own.
    assert min(map(_f0_hz, females)) > 1.3 * max(map(_f0_hz, males))


async def test_empty_text_yields_nothing(us: EspeakTTS) -> None:
    assert await _speak(us, "  ") == b""


@pytest.mark.parametrize(
    ("voice", "options", "message"),
    [
        ("xx-nowhere", {}, "no voice 'xx-nowhere'"),
        ("en-us+nobody", {}, "no variant 'nobody'"),
        ("en-us+f3", {"gender": "female"}, "not both"),
        ("en-us", {"rate": 20}, "80-450"),
        ("en-us", {"pitch": 150}, "0-99"),
    ],
)
def test_bad_settings_are_refused(
    installed: None, voice: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EspeakTTS(voice, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("voice", ["en-us", "en", "en-gb", "en-gb+f3", "en-gb-x-rp", "en-us+m3"])
async def test_voice_names_languages_and_variants_are_accepted(installed: None, voice: str) -> None:
    assert await _speak(EspeakTTS(voice), "Yes please.")


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes the import fail
    monkeypatch.setattr(espeak, "_ENGINE", None)  # as in a process that never loaded it
    with pytest.raises(ProviderError, match="uv sync --extra eval") as info:
        EspeakTTS()
    assert info.value.provider == "espeak"


def test_a_data_path_too_long_for_the_library_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # eSpeak NG 1.52 would cut the path at 160 bytes and fail to find its data.
    loader = types.ModuleType("espeakng_loader")
    loader.get_library_path = lambda: "/opt/libespeak-ng.so"  # type: ignore[attr-defined]
    loader.get_data_path = lambda: "/" + "deep/" * 40 + "espeak-ng-data"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "espeakng_loader", loader)
    monkeypatch.setattr(espeak, "_ENGINE", None)
    with pytest.raises(ProviderError, match="longer than the 159 bytes"):
        EspeakTTS()
