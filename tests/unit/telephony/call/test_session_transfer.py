"""A transfer that fails must not drop the caller (CallSession, virtual clock).

The agent announces the transfer, the caller hears it, the call control
fails: the stream stays open, the agent gets one more turn (source
``event``) and the caller hears its answer, or a fixed phrase if it has none.
"""

from __future__ import annotations

import asyncio

from telephony.call.agent import TRANSFER_FAILED, CallAction
from telephony.call.phrases import NOT_PUT_THROUGH
from telephony.speech.base import ProviderError
from tests.fakes import FakeCallControl, FakeSTT, ScriptedAgent, VirtualClock, tone_ulaw
from tests.unit.telephony.call.test_session import Call

FRONT_DESK = "+15550100200"
ANNOUNCEMENT = "Putting you through."
RECOVERY = "Sorry I could not put you through so what else can I do for you?"
TRANSFER = CallAction("transfer", FRONT_DESK, "caller asked")
BAD_NUMBER = ProviderError("twilio", "Twilio error 21211 (HTTP 400)", retryable=False)


def transfer_agent(**overrides) -> ScriptedAgent:
    options = {
        "replies": {"agent please": ANNOUNCEMENT, TRANSFER_FAILED: RECOVERY},
        "action_on": {"agent please": TRANSFER},
    }
    return ScriptedAgent(**(options | overrides))


async def speak(call: Call) -> None:
    """The caller says the next scripted utterance (a tone burst, then silence)."""
    for frame in call.twilio.frames(tone_ulaw(300)) + call.twilio.frames(bytes([0xFF]) * 160 * 15):
        call.transport.push(frame)


async def ask_for_a_person(call: Call) -> None:
    call.begin()
    await call.run_for(3.0)  # the greeting
    call.echo_marks()
    await speak(call)
    await call.run_for(2.0)  # the announcement is sent
    assert call.control.attempts == [], "not before the caller heard the announcement"
    call.echo_marks()
    await call.run_for(3.0)  # heard; the transfer fails; the recovery turn is spoken
    call.echo_marks()
    await call.run_for(0.5)


async def test_a_refused_transfer_keeps_the_call_and_the_agent_answers_it() -> None:
    heard: list[tuple[str, str]] = []
    call = Call(
        stt=FakeSTT(["agent please", "what are your hours"]),
        control=FakeCallControl([BAD_NUMBER]),
        agent=transfer_agent,
    )
    call.services.observer = lambda sid, who, text, timing: heard.append((who, text))
    await ask_for_a_person(call)
    assert len(call.control.attempts) == 1, "a refusal is not repeated"
    assert call.agent.inputs[-1] == ("event", TRANSFER_FAILED)
    assert RECOVERY in call.tts.spoken
    assert call.session.report.heard[3] == RECOVERY
    assert not call.task.done() and call.transport.closed is None, "the stream stays open"
    assert ("agent", RECOVERY) in heard
    assert all(who != "caller" or TRANSFER_FAILED not in text for who, text in heard)
    # The call goes on: the caller's next words are answered.
    await speak(call)
    await call.run_for(3.0)
    assert call.agent.inputs[-1] == ("speech", "what are your hours")
    await call.end()
    assert call.session.report.end_reason == "caller hung up (stop)"


async def test_without_call_control_the_agent_still_answers() -> None:
    call = Call(stt=FakeSTT(["agent please"]), agent=transfer_agent)
    call.control = FakeCallControl()  # only for ask_for_a_person's check; not given to the session
    await ask_for_a_person(call)
    assert call.agent.inputs[-1] == ("event", TRANSFER_FAILED)
    assert RECOVERY in call.tts.spoken
    assert not call.task.done()
    await call.end()


async def test_when_the_agent_cannot_answer_a_fixed_phrase_is_said() -> None:
    call = Call(
        stt=FakeSTT(["agent please"]),
        control=FakeCallControl([BAD_NUMBER]),
        agent=lambda: transfer_agent(fail_on=TRANSFER_FAILED),
    )
    await ask_for_a_person(call)
    assert call.agent.inputs[-1] == ("event", TRANSFER_FAILED)
    assert call.tts.spoken[-1] == NOT_PUT_THROUGH
    assert not call.task.done()
    await call.end()


async def test_a_second_failure_in_the_recovery_turn_does_not_loop() -> None:
    call = Call(
        stt=FakeSTT(["agent please"]),
        control=FakeCallControl([BAD_NUMBER] * 5),
        agent=lambda: transfer_agent(
            action_on={"agent please": TRANSFER, TRANSFER_FAILED: TRANSFER}
        ),
    )
    await ask_for_a_person(call)
    await call.run_for(2.0)
    call.echo_marks()
    await call.run_for(2.0)
    assert [i for i in call.agent.inputs if i[0] == "event"] == [("event", TRANSFER_FAILED)]
    assert len(call.control.attempts) == 2
    assert call.tts.spoken[-2:] == [RECOVERY, NOT_PUT_THROUGH]
    assert not call.task.done()
    await call.end()


async def test_a_transfer_that_goes_through_still_ends_the_stream() -> None:
    call = Call(stt=FakeSTT(["agent please"]), control=FakeCallControl(), agent=transfer_agent)
    await ask_for_a_person(call)
    report = await asyncio.wait_for(call.task, 5)
    assert report.end_reason == "agent transfer"
    assert [i[0] for i in call.agent.inputs] == ["start", "speech"]


async def test_a_slow_failing_transfer_is_answered_not_reprompted_or_repeated() -> None:
    """Twilio taking longer than the silence reprompt must not cut the transfer short."""

    class SlowTwilio(FakeCallControl):
        async def transfer(self, call_sid: str, target: str, *, caller_id: str = "") -> None:
            await clock.sleep(9.0)  # longer than reprompt_after_ms (7 s); then a timeout
            await super().transfer(call_sid, target, caller_id=caller_id)

    clock = VirtualClock()
    timeout = ProviderError("twilio", "no answer from Twilio in 10 s", retryable=True)
    call = Call(
        stt=FakeSTT(["agent please"]),
        control=SlowTwilio([timeout, timeout]),
        agent=transfer_agent,
        clock=clock,
    )
    await ask_for_a_person(call)
    await call.run_for(10.0)
    call.echo_marks()
    await call.run_for(1.0)
    assert len(call.control.attempts) == 1, "the caller waited long enough: no retry"
    assert call.agent.inputs[2:] == [("event", TRANSFER_FAILED)], "no reprompt in between"
    assert RECOVERY in call.tts.spoken
    assert not call.task.done()
    await call.end()
