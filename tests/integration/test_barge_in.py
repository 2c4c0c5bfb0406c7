"""Two-step barge-in in a real session with the real Silero VAD.

The test plays Twilio on an in-memory socket and a virtual clock; the caller's
audio is real: speech synthesised by Piper, and a cough (a short noise burst).
"""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest

from telephony.call.session import CallSession
from telephony.settings import Settings
from telephony.speech.silero import SileroVADFactory
from telephony.wire.codec import pcm_to_ulaw, ulaw_silence, ulaw_to_pcm
from tests.fakes import FAKE_TTS_MS_PER_CHAR, ScriptedAgent
from tests.unit.telephony.call.test_session import Call

LONG_REPLY = (
    "We are open Monday to Friday from nine in the morning until five in the afternoon, "
    "and on Saturday from nine until noon. We are closed on Sunday and on public holidays."
)


def cough(ms: int = 250) -> bytes:
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 9000, 8 * ms) * np.hanning(8 * ms)
    return pcm_to_ulaw(np.clip(noise, -32768, 32767).astype(np.int16))


async def speech(text: str) -> bytes:
    piper = pytest.importorskip("telephony.speech.piper")
    tts = piper.PiperTTS(pitch=1.15)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def session_with_vad() -> Call:
    call = Call(
        agent=lambda: ScriptedAgent(greeting=LONG_REPLY),
        settings=Settings(playout_lead_ms=100, start_timeout=5.0, vad="silero"),
    )
    call.services.vad = SileroVADFactory()
    from telephony.call.session import CallSession

    call.session = CallSession(call.transport, call.services, call.settings)
    return call


async def caller_says(call: Call, audio: bytes) -> float:
    """Stream caller audio in real time (20 ms per frame); returns the onset time."""
    onset = call.clock.now()
    for frame in call.twilio.frames(audio):
        call.transport.push(frame)
        await call.run_for(0.02)
    return onset


def sent_media(call: Call) -> list[float]:
    return [at for at, msg in call.sent_at if msg["event"] == "media"]


def assert_reply_complete(call: Call) -> None:
    assert not call.transport.of("clear"), "this sound must not interrupt the agent"
    expected = FAKE_TTS_MS_PER_CHAR * len(LONG_REPLY) // 20
    assert abs(len(call.transport.of("media")) - expected) <= len(LONG_REPLY.split(". "))
    assert call.agent.heard == [] and call.agent.cancelled == 0


async def test_a_cough_does_not_interrupt() -> None:
    call = session_with_vad()
    call.begin()
    await call.run_for(1.0)
    await caller_says(call, cough() + ulaw_silence(200))
    await call.run_for(12.0)
    assert_reply_complete(call)
    await call.end()


async def test_a_backchannel_pauses_then_resumes_with_nothing_lost() -> None:
    call = session_with_vad()
    call.begin()
    await call.run_for(1.0)
    onset = await caller_says(call, await speech("Okay.") + ulaw_silence(400))
    times = sent_media(call)
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a > 0.1]
    assert gaps, "sending paused while the caller spoke"
    print(
        f"backchannel: paused {(gaps[0][0] - onset) * 1000:.0f} ms after the audio began, "
        f"resumed {(gaps[0][1] - gaps[0][0]) * 1000:.0f} ms later"
    )
    await call.run_for(12.0)
    assert_reply_complete(call)
    await call.end()


async def test_real_speech_over_the_agent_confirms_and_clears() -> None:
    call = session_with_vad()
    call.begin()
    await call.run_for(1.0)
    words = await speech("Sorry, I need to book an appointment instead.")
    onset = await caller_says(call, ulaw_silence(100) + words + ulaw_silence(300))
    clears = [at for at, msg in call.sent_at if msg["event"] == "clear"]
    assert clears, "speech over the agent is an interruption"
    times = sent_media(call)
    paused_at = max(t for t in times if t < clears[0])
    print(
        f"speech: sending paused {(paused_at - onset) * 1000:.0f} ms after the audio began, "
        f"clear {(clears[0] - onset) * 1000:.0f} ms after"
    )
    assert clears[0] - onset < 1.5
    # The state holds what the caller heard: a prefix of the reply, cut short.
    assert len(call.agent.heard) == 1
    heard = call.agent.heard[0]
    assert LONG_REPLY.startswith(heard) and 0 < len(heard) < len(LONG_REPLY)
    await call.end()


class RecordedTTS:
    """Speaks pre-synthesised real speech (Piper runs in a thread; the virtual
    clock cannot wait for it), so the agent's voice is real."""

    name = "recorded"

    def __init__(self, audio: bytes) -> None:
        self.audio = audio

    async def synthesize(self, text: str):
        for i in range(0, len(self.audio), 1600):
            yield self.audio[i : i + 1600]


def attenuate(ulaw: bytes, db: float) -> bytes:
    pcm = ulaw_to_pcm(ulaw).astype(np.float32) * 10 ** (-db / 20)
    return pcm_to_ulaw(pcm.astype(np.int16))


async def echo_call(*, suppression: bool, db: float = 6.0) -> Call:
    """The agent speaks real speech; the caller's phone sends it back 120 ms later."""
    agent_voice = await speech(
        "We are open Monday to Friday from nine until five. On Saturday we open at nine."
    )
    call = Call(
        agent=lambda: ScriptedAgent(greeting="We are open."),
        tts=RecordedTTS(agent_voice),
        settings=Settings(
            playout_lead_ms=100, start_timeout=5.0, vad="silero", echo_suppression=suppression
        ),
    )
    call.services.vad = SileroVADFactory()
    call.session = CallSession(call.transport, call.services, call.settings)
    call.begin()
    delay_frames = 6  # 120 ms from our send to its echo arriving
    echoed = 0
    for _ in range(int(8.0 / 0.02)):
        media = call.transport.of("media")
        while echoed < len(media) - delay_frames:
            payload = base64.b64decode(media[echoed]["media"]["payload"])
            call.transport.push(call.twilio.media(attenuate(payload, db)))
            echoed += 1
        await call.run_for(0.02)
    call.expected_frames = len(agent_voice) // 160  # type: ignore[attr-defined]
    return call


def pauses(call: Call) -> float:
    counters = call.services.metrics._counters.get("dialgraph_barge_ins_total", {})
    return counters.get((("outcome", "paused"),), 0.0)


async def test_the_agents_own_voice_echoed_back_does_not_barge_in() -> None:
    call = await echo_call(suppression=True)
    assert pauses(call) == 0, "our own voice paused us"
    assert not call.transport.of("clear"), "our own voice interrupted us"
    assert call.agent.heard == [] and call.agent.cancelled == 0
    assert len(call.transport.of("media")) >= call.expected_frames - 1, "the reply was held back"
    await call.end()


async def test_without_echo_suppression_the_echo_pauses_the_agent() -> None:
    """The control case: the same echo, unsuppressed, is taken for the caller's
    voice and stops the agent (it resumes once the echo dies with the pause)."""
    call = await echo_call(suppression=False)
    assert pauses(call) >= 1
    await call.end()
