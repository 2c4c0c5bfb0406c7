"""pocketsphinx biased by what a step expects: the clinic's domain model and its kind models.

Callers are synthesised at test time and put through the eval's phone line
(clean here), and each utterance is decoded twice from the same audio,
without and with the step's expectation, so the difference is the bias
alone. The answers are eSpeak NG's (US English), the voice least like the
agent's: the flow's own model mostly mishears them (``"you can quickly"``,
``"oh"``), the yes/no model hears them. eSpeak NG's output varies by a few
bytes run to run and now and then the flow's model hears one right too
(``"yet conflict please"`` still reads as a yes), so what it heard is
printed, not asserted: the test holds the biased reading to the answer. The
request for a person is Piper's, which the flow's model hears word for word.
``bench/bench_expect.py`` has the figures over many answers, voices and lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.bench_expect import LINES, yes_or_no
from bench.bench_speech import domain_config, recognise, words_of
from telephony.speech.base import AudioFrame, CallInfo, Expectation, TextToSpeech
from telephony.speech.pocketsphinx import PocketsphinxSTT, _DecoderPool, _PooledDecoder
from telephony.wire.codec import ulaw_silence, ulaw_to_pcm

CALL = CallInfo(call_sid="CAbench", stream_sid="MZbench")  # the call bench_speech.recognise uses
YES_NO = Expectation("yes_no")
PERSON = "Can I talk to a person?"


@pytest.fixture(scope="module")
def espeak() -> TextToSpeech:
    pytest.importorskip(
        "espeakng_loader", reason="the eval extra is not installed (uv sync --extra eval)"
    )
    from telephony.speech.espeak import EspeakTTS

    return EspeakTTS("en-us")


@pytest.fixture(scope="module")
def piper() -> TextToSpeech:
    pytest.importorskip("piper", reason="the piper extra is not installed (uv sync --extra piper)")
    from telephony.softphone import default_caller_voice

    return default_caller_voice()


@pytest.fixture(scope="module")
def stt(tmp_path_factory: pytest.TempPathFactory) -> PocketsphinxSTT:
    recogniser = PocketsphinxSTT(domain_config(tmp_path_factory.mktemp("asr")))
    asyncio.run(recogniser.warm_up())
    return recogniser


async def said(tts: TextToSpeech, text: str, line: str = "clean") -> bytes:
    """What the server receives of ``text`` said on a fresh line, its noise around it."""
    ulaw = b"".join([chunk async for chunk in tts.synthesize(text)])
    phone = LINES[line]()
    return b"".join([*phone.silence(15), *phone.degrade(ulaw), *phone.silence(40)])


async def heard(
    stt: PocketsphinxSTT, expectation: Expectation | None, text: str, audio: bytes
) -> str:
    stt.expect(CALL, expectation)
    return (await recognise(stt, text, audio)).text


@pytest.mark.parametrize(("answer", "meaning"), [("Yes, cancel it please.", "yes"), ("No.", "no")])
async def test_an_answer_the_flow_model_mishears_comes_through_when_a_yes_or_no_is_expected(
    stt: PocketsphinxSTT, espeak: TextToSpeech, answer: str, meaning: str
) -> None:
    audio = await said(espeak, answer)
    free = await heard(stt, None, answer, audio)
    biased = await heard(stt, YES_NO, answer, audio)
    print(f"\n{answer!r}: without {free!r}, with a yes/no expected {biased!r}")
    assert yes_or_no(biased) == meaning


async def test_a_request_for_a_person_is_still_heard_while_a_yes_or_no_is_expected(
    stt: PocketsphinxSTT, piper: TextToSpeech
) -> None:
    audio = await said(piper, PERSON)
    free = await heard(stt, None, PERSON, audio)
    biased = await heard(stt, YES_NO, PERSON, audio)
    print(f"\n{PERSON!r}: without {free!r}, with a yes/no expected {biased!r}")
    assert {"talk", "person"} <= set(words_of(biased))
    assert yes_or_no(biased) is None, "not forced into a yes or a no"


@pytest.fixture
def chosen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The search each utterance was decoded with (``""``: the flow's own model)."""
    seen: list[str] = []
    activate = _DecoderPool.activate

    def spy(pool: _DecoderPool, pooled: _PooledDecoder, wanted: tuple[str, ...]) -> str:
        seen.append(activate(pool, pooled, wanted))
        return seen[-1]

    monkeypatch.setattr(_DecoderPool, "activate", spy)
    return seen


async def test_the_switch_waits_for_the_callers_next_utterance(
    stt: PocketsphinxSTT, espeak: TextToSpeech, chosen: list[str]
) -> None:
    first, second = await said(espeak, "Yes."), await said(espeak, "No.")
    frames = [*_frames(first), *_frames(ulaw_silence(400)), *_frames(second)]
    halfway = len(first) // 160 // 2

    async def caller() -> AsyncIterator[AudioFrame]:
        for n, frame in enumerate(frames):
            if n == halfway:
                stt.expect(CALL, YES_NO)  # the agent's reply ends while the caller speaks
            yield frame

    stt.expect(CALL, None)
    finals = [t.text async for t in stt.transcribe(caller(), call=CALL) if t.is_final]
    assert len(finals) == 2, finals
    assert chosen == ["", "yes_no"], "the utterance in progress kept its model"


def _frames(ulaw: bytes) -> list[AudioFrame]:
    return [
        AudioFrame(ulaw[i : i + 160], ulaw_to_pcm(ulaw[i : i + 160]), i // 8)
        for i in range(0, len(ulaw), 160)
    ]


async def test_a_steps_hints_get_their_own_model_without_delaying_the_call(
    stt: PocketsphinxSTT, espeak: TextToSpeech, chosen: list[str]
) -> None:
    names = ("Doctor Patel", "Doctor Nguyen")
    doctors = Expectation("choice", names, names)
    audio = await said(espeak, "Doctor Nguyen, please.")
    await heard(stt, doctors, "Doctor Nguyen, please.", audio)  # its model starts building
    await stt.prepare(doctors)
    text = await heard(stt, doctors, "Doctor Nguyen, please.", audio)
    assert chosen[1].startswith("hints-")
    # The call never waits for a build: the kind's model serves until it is done.
    assert chosen[0] in {"choice", chosen[1]}
    print(f"\nwith the doctors' names expected: {text!r}")
    assert "nguyen" in words_of(text)
