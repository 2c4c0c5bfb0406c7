"""Two-step barge-in in a real session with the real Silero VAD.

The test plays Twilio on an in-memory socket and a virtual clock; the caller's
audio is real: speech synthesised by Piper, and a cough (a short noise burst).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from telephony.codec import pcm_to_ulaw, ulaw_silence
from telephony.providers.silero import SileroVADFactory
from telephony.settings import Settings
from tests.fakes import FAKE_TTS_MS_PER_CHAR, ScriptedAgent
from tests.unit.test_session import Call

LONG_REPLY = (
    "We are open Monday to Friday from nine in the morning until five in the afternoon, "
    "and on Saturday from nine until noon. We are closed on Sunday and on public holidays."
)


def cough(ms: int = 250) -> bytes:
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 9000, 8 * ms) * np.hanning(8 * ms)
    return pcm_to_ulaw(np.clip(noise, -32768, 32767).astype(np.int16))


async def speech(text: str) -> bytes:
    piper = pytest.importorskip("telephony.providers.piper")
    tts = piper.PiperTTS(pitch=1.15)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def session_with_vad() -> Call:
    call = Call(
        agent=lambda: ScriptedAgent(greeting=LONG_REPLY),
        settings=Settings(playout_lead_ms=100, start_timeout=5.0, vad="silero"),
    )
    call.services.vad = SileroVADFactory()
    from telephony.session import CallSession

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
