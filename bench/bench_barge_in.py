"""Barge-in reaction and VAD onset delay, on real speech.

A real ``CallSession`` with the real Silero VAD, on an in-memory socket and
a virtual clock (so the figures are the decision logic's, not this
machine's scheduling): the agent speaks a long reply, and a caller (Piper,
the pitched caller voice) talks over it. For each utterance:

* VAD onset delay: true speech onset (first 20 ms frame above -40 dBFS) ->
  the VAD's speech-start decision;
* pause: true onset -> the session stops sending agent audio;
* clear: true onset -> Twilio's buffer is cleared (the interruption confirmed
  by 500 ms of voice or a recognised word; here no recogniser, so by voice).

Backchannels ("okay", "mhm") are also played: they should pause and resume,
never clear. Add Twilio's ``playout_lead_ms`` (120 ms) to the pause figure
for what the caller hears: the audio already sent still plays.

Run: ``uv run python bench/bench_barge_in.py``. Prints figures, never pass/fail.
"""

from __future__ import annotations

import asyncio
import statistics

from telephony.call.session import CallSession
from telephony.settings import Settings
from telephony.speech.piper import PiperTTS
from telephony.speech.silero import SileroVADFactory
from telephony.wire.codec import rms_dbfs, ulaw_silence, ulaw_to_pcm
from tests.fakes import ScriptedAgent
from tests.unit.telephony.call.test_session import Call

INTERRUPTIONS = [
    "Sorry, I need to book an appointment instead.",
    "Wait, can I ask something?",
    "No, that's not what I meant.",
    "Actually, I want to cancel my appointment.",
    "Hold on, what about Saturday?",
    "Can I talk to someone at the front desk?",
    "Excuse me, I have a question about parking.",
    "I would like to reschedule my checkup.",
]
BACKCHANNELS = ["Okay.", "Mhm.", "Right.", "Yeah."]
REPLY = " ".join(["We are open Monday to Friday from nine until five, and Saturday mornings."] * 4)


def true_onset(audio: bytes) -> float:
    pcm = ulaw_to_pcm(audio)
    for i in range(0, len(pcm) - 160, 160):
        if rms_dbfs(pcm[i : i + 160]) > -40:
            return i / 8000
    return 0.0


async def one(text: str, tts: PiperTTS) -> dict[str, float | None]:
    call = Call(
        agent=lambda: ScriptedAgent(greeting=REPLY),
        settings=Settings(playout_lead_ms=120, start_timeout=5.0, vad="silero"),
    )
    call.services.vad = SileroVADFactory()
    call.session = CallSession(call.transport, call.services, call.settings)
    stamps: dict[str, float] = {}
    session = call.session
    original_pause = session.pause

    def pause() -> None:
        stamps.setdefault("pause", call.clock.now())
        original_pause()

    session.pause = pause  # type: ignore[method-assign]
    gate = session._turns.gate
    original_update = gate.update

    def update(probability: float, now: float):
        event = original_update(probability, now)
        if event is not None and event.speaking:
            stamps.setdefault("vad", now)
        return event

    gate.update = update  # type: ignore[method-assign]
    call.begin()
    await call.run_for(1.0)
    speech = b"".join([c async for c in tts.synthesize(text)])
    audio = ulaw_silence(200) + speech + ulaw_silence(600)
    start = call.clock.now()
    onset = start + true_onset(audio)
    for frame in call.twilio.frames(audio):
        call.transport.push(frame)
        await call.run_for(0.02)
    await call.run_for(1.0)
    clears = [at for at, msg in call.sent_at if msg["event"] == "clear"]
    await call.end()

    def ms(key_time: float | None) -> float | None:
        return None if key_time is None else (key_time - onset) * 1000

    return {
        "vad": ms(stamps.get("vad")),
        "pause": ms(stamps.get("pause")),
        "clear": ms(clears[0] if clears else None),
    }


def summary(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "never"
    return (
        f"min {min(got):5.0f}  median {statistics.median(got):5.0f}  max {max(got):5.0f} ms"
        f"  ({len(got)}/{len(values)})"
    )


async def main() -> None:
    tts = PiperTTS(pitch=1.15)
    await tts.warm_up()
    print(f"{len(INTERRUPTIONS)} interruptions over a talking agent (Silero VAD, virtual clock):")
    results = [await one(text, tts) for text in INTERRUPTIONS]
    print(f"  VAD onset delay         {summary([r['vad'] for r in results])}")
    print(f"  onset -> sending paused {summary([r['pause'] for r in results])}")
    print(f"  onset -> clear          {summary([r['clear'] for r in results])}")
    print(f"{len(BACKCHANNELS)} backchannels (should pause, then resume, never clear):")
    backs = [await one(text, tts) for text in BACKCHANNELS]
    print(f"  onset -> sending paused {summary([r['pause'] for r in backs])}")
    print(f"  cleared (wrongly)       {sum(r['clear'] is not None for r in backs)}/{len(backs)}")


if __name__ == "__main__":
    asyncio.run(main())
