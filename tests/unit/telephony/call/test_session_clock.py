"""CallSession on the caller-audio clock: a stalled process loses no call.

A stall is played on the virtual clock: time jumps while no task runs (as
under SIGSTOP), then Twilio's backlog arrives at once.
"""

from __future__ import annotations

import asyncio

from telephony.settings import Settings
from tests.fakes import FakeSTT, ScriptedAgent, VirtualClock, tone_ulaw
from tests.unit.telephony.call.test_session import Call

SILENCE = bytes([0xFF])


class StallingClock(VirtualClock):
    """A virtual clock that can also jump while nothing runs: a stopped process."""

    def stall(self, seconds: float) -> None:
        self._now += seconds


async def _stream_in_real_time(call: Call, audio: bytes) -> None:
    """Play Twilio: one 20 ms frame every 20 ms."""
    for frame in call.twilio.frames(audio):
        call.transport.push(frame)
        await call.run_for(0.02)


async def test_a_backlog_after_a_stall_is_caught_up_and_the_caller_is_answered() -> None:
    clock = StallingClock()
    call = Call(
        clock=clock,
        stt=FakeSTT(["what time do you close"]),
        agent=lambda: ScriptedAgent(replies={"what time do you close": "We close at five."}),
    )
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()  # the greeting was heard
    await _stream_in_real_time(call, SILENCE * 160 * 50)
    clock.stall(11.0)
    # Twilio kept streaming: 11 s of audio (the question, then silence) arrives at once.
    backlog = tone_ulaw(600) + SILENCE * 8 * (11_000 - 600)
    for frame in call.twilio.frames(backlog):
        call.transport.push(frame)
    await call.run_for(3.0)
    assert not call.task.done(), call.session.report.end_reason
    assert ("speech", "what time do you close") in call.agent.inputs
    assert "We close at five." in call.tts.spoken
    await call.end()
    assert call.session.report.end_reason == "caller hung up (stop)"


async def test_a_stall_holds_the_silence_reprompt_until_the_silence_is_heard() -> None:
    clock = StallingClock()
    settings = Settings(playout_lead_ms=100, start_timeout=5.0, reprompt_after_ms=7000)
    call = Call(clock=clock, settings=settings)
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    await _stream_in_real_time(call, SILENCE * 160 * 100)  # 2 s of silence heard
    clock.stall(11.0)
    await call.run_for(1.0)
    assert ("silence", "") not in call.agent.inputs, "the caller was not heard meanwhile"
    for frame in call.twilio.frames(SILENCE * 8 * 11_000):  # the backlog: more silence
        call.transport.push(frame)
    await call.run_for(0.5)
    assert ("silence", "") in call.agent.inputs, "now the silence was heard"
    await call.end()


async def test_frames_whose_timestamps_do_not_advance_are_a_flood() -> None:
    call = Call()
    call.begin()
    await call.run_for(0.1)
    frame = call.twilio.frames(SILENCE * 160)[0]
    for _ in range(600):
        call.transport.push(frame)
    report = await asyncio.wait_for(call.task, 5)
    assert report.close_code == 1008
    assert "flood" in report.end_reason


async def test_other_messages_at_a_huge_rate_are_a_flood() -> None:
    call = Call()
    call.begin()
    await call.run_for(0.1)
    for _ in range(600):
        call.transport.push(call.twilio.dtmf("1"))
    report = await asyncio.wait_for(call.task, 5)
    assert report.close_code == 1008
    assert "flood" in report.end_reason
