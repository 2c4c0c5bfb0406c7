"""The session tells the recogniser what the agent expects, after every reply.

The same in-memory call on a virtual clock as ``test_session.py``; the
recogniser is a :class:`tests.fakes.FakeSTT` that also takes expectations.
"""

from __future__ import annotations

import logging

from telephony.speech.base import CallInfo, Expectation, ExpectingSpeechToText
from tests.fakes import FakeSTT, tone_ulaw
from tests.unit.telephony.call.test_session import AskingAgent, Call

YES_NO = {"kind": "yes_no", "hints": ["yes cancel it"]}
SILENCE_FRAMES = bytes([0xFF]) * 160 * 15  # 300 ms: ends the fake's utterance


class ExpectingSTT(FakeSTT):
    """FakeSTT that keeps every expectation it is given, with the call it was for."""

    def __init__(self, utterances: list[str], *, fail: bool = False) -> None:
        super().__init__(utterances)
        self.expected: list[tuple[str, Expectation | None]] = []
        self.fail = fail

    def expect(self, call: CallInfo, expectation: Expectation | None) -> None:
        if self.fail:
            raise RuntimeError("bias unavailable")
        self.expected.append((call.call_sid, expectation))


async def speak(call: Call) -> None:
    for frame in call.twilio.frames(tone_ulaw(400)) + call.twilio.frames(SILENCE_FRAMES):
        call.transport.push(frame)
    await call.run_for(1.0)


async def test_each_reply_tells_the_recogniser_what_comes_next() -> None:
    stt = ExpectingSTT(["no thanks"])
    assert isinstance(stt, ExpectingSpeechToText)
    call = Call(agent=lambda: AskingAgent(ask=YES_NO), stt=stt)
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    assert stt.expected == [(call.twilio.call_sid, Expectation("yes_no", ("yes cancel it",)))]

    await speak(call)  # the agent's answer to it expects nothing: free speech again
    assert call.agent.inputs == [("start", ""), ("speech", "no thanks")]
    assert stt.expected[1:] == [(call.twilio.call_sid, None)]
    await call.end()


async def test_a_digits_step_biases_the_recogniser_and_arms_the_keypad() -> None:
    stt = ExpectingSTT([])
    ask = {"kind": "digits", "max_digits": 5, "finish_on_key": "#", "hints": ["my zip code is"]}
    call = Call(agent=lambda: AskingAgent(ask=ask), stt=stt)
    call.begin()
    await call.run_for(0.5)
    for key in "55103":
        call.transport.push(call.twilio.dtmf(key))
        await call.run_for(0.2)
    await call.run_for(0.5)
    assert ("dtmf", "55103") in call.agent.inputs  # max_digits ended the entry
    assert stt.expected[0][1] == Expectation("digits", ("my zip code is",), max_digits=5)
    await call.end()


async def test_a_recogniser_that_cannot_take_it_never_fails_the_reply(caplog) -> None:
    stt = ExpectingSTT(["no thanks"], fail=True)
    call = Call(agent=lambda: AskingAgent(ask=YES_NO), stt=stt)
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    await speak(call)
    assert call.agent.inputs == [("start", ""), ("speech", "no thanks")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("recogniser expect() failed: RuntimeError" in w for w in warnings)
    await call.end()


async def test_recognisers_without_expect_are_left_alone() -> None:
    call = Call(agent=lambda: AskingAgent(ask=YES_NO), stt=FakeSTT(["no thanks"]))
    call.begin()
    await call.run_for(3.0)
    call.echo_marks()
    await speak(call)
    assert call.agent.inputs == [("start", ""), ("speech", "no thanks")]
    await call.end()
