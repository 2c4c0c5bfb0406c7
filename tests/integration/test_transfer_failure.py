"""A transfer Twilio refuses must not drop the caller.

The whole path: a ``CallSession`` (virtual clock, in-memory socket playing
Twilio's media stream), call control through the real ``twilio`` SDK against
the loopback fake of Twilio's REST API (``tests/twilio_fake.py``), and either
a scripted agent (exact replies) or the real clinic graph on the offline
``local`` model with its checkpointer. Twilio fails the transfer; the stream
stays open, the caller hears the recovery, and the next turn is answered.
The ``fake`` and ``control`` fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from dialgraph import load_flow, requested_actions
from graphs.runtime.service import open_flow_agents
from memory.transcripts import read_transcript
from telephony.admission.registry import CallRegistry
from telephony.call.agent import TRANSFER_FAILED, CallAction
from telephony.call.services import CallServices
from telephony.call.session import CallSession
from telephony.outbound.twilio_rest import TwilioCallControl
from telephony.settings import Settings
from tests.fakes import (
    AgentFactoryFor,
    FakeSTT,
    FakeTTS,
    MemoryTransport,
    ScriptedAgent,
    TwilioScript,
    VirtualClock,
    test_tokens,
    tone_ulaw,
)
from tests.twilio_fake import INTERNAL_ERROR

REPO = Path(__file__).resolve().parents[2]

FRONT_DESK = "+15550100200"
CALLER = "+15551230000"
STEPS = 400  # bound on the polling below: 40 s of virtual time


class Line:
    """One call: the session under test, with Twilio's media side played here."""

    def __init__(self, sid: str, agents, control: TwilioCallControl, utterances: list[str]):
        self.clock, self.transport, tokens = VirtualClock(), MemoryTransport(), test_tokens()
        self.tts = FakeTTS()
        services = CallServices(
            agent_factory=agents,
            registry=CallRegistry(),
            tokens=tokens,
            tts=self.tts,
            stt=FakeSTT(utterances),
            call_control=control,
            clock=self.clock,
        )
        self.session = CallSession(
            self.transport, services, Settings(playout_lead_ms=100, start_timeout=5.0)
        )
        self.twilio = TwilioScript(call_sid=sid)
        self.transport.push(self.twilio.connected())
        self.transport.push(self.twilio.signed_start(tokens, caller=CALLER))
        self.task = asyncio.create_task(self.session.run())
        self._echoed = 0

    def said(self) -> str:
        return " ".join(self.tts.spoken)

    def heard(self, words: str) -> Callable[[], bool]:
        """Whether the caller has heard ``words`` (their marks came back), as a condition."""
        return lambda: any(words in text for text in self.session.report.heard.values())

    async def until(self, done: Callable[[], bool]) -> None:
        """Let the call run (Twilio echoing every mark) until ``done()``; bounded."""
        for _ in range(STEPS):
            if done():
                return
            names = [m["mark"]["name"] for m in self.transport.of("mark")]
            for name in names[self._echoed :]:
                self.transport.push(self.twilio.mark(name))
            self._echoed = len(names)
            await self.clock.advance(0.1)
            await asyncio.sleep(0.005)  # real I/O: the fake Twilio, the checkpointer
        raise AssertionError(f"the call never got there; the agent said: {self.said()!r}")

    async def speak(self) -> None:
        """The caller says the next scripted utterance (a tone burst, then silence)."""
        audio = tone_ulaw(300) + bytes([0xFF]) * 160 * 15
        for frame in self.twilio.frames(audio):
            self.transport.push(frame)

    async def hang_up(self):
        self.transport.push(self.twilio.stop())
        await self.clock.advance(0.1)
        return await asyncio.wait_for(self.task, 5)


async def test_twilio_failing_twice_leaves_the_call_on_and_the_agent_apologises(
    fake, control, caplog
) -> None:
    sid = fake.add_call(from_=CALLER)
    fake.fail_next(INTERNAL_ERROR, times=2)  # the transfer and its one retry
    agents = AgentFactoryFor(
        lambda: ScriptedAgent(
            replies={
                "a person please": "Transferring you to the front desk.",
                TRANSFER_FAILED: "Sorry I could not put you through so what else can I do?",
                "my hours": "We open at nine.",
            },
            action_on={"a person please": CallAction("transfer", FRONT_DESK, "caller asked")},
        )
    )
    line = Line(sid, agents, control, ["a person please", "my hours"])
    await line.until(line.heard("test line"))
    await line.speak()
    await line.until(line.heard("could not put you through"))
    assert [r.status for r in fake.updates_of(sid)] == [500, 500], "one retry, no more"
    assert agents.agents[sid].inputs[-1] == ("event", TRANSFER_FAILED)
    assert not line.task.done() and line.transport.closed is None, "the caller is still there"
    await line.speak()
    await line.until(line.heard("We open at nine."))
    report = await line.hang_up()
    assert report.end_reason == "caller hung up (stop)"
    assert report.interruptions == 0
    failures = [r for r in caplog.records if "transfer failed" in r.getMessage()]
    assert len(failures) == 1 and "after one retry" in failures[0].getMessage()
    assert FRONT_DESK not in caplog.text


async def test_one_server_error_is_retried_and_the_caller_is_put_through(fake, control) -> None:
    sid = fake.add_call(from_=CALLER)
    fake.fail_next(INTERNAL_ERROR)
    agents = AgentFactoryFor(
        lambda: ScriptedAgent(
            action_on={"a person please": CallAction("transfer", FRONT_DESK, "caller asked")}
        )
    )
    line = Line(sid, agents, control, ["a person please"])
    await line.until(line.heard("test line"))
    await line.speak()
    await line.until(line.task.done)
    assert [r.status for r in fake.updates_of(sid)] == [500, 200]
    assert line.task.result().end_reason == "agent transfer"
    assert [source for source, _ in agents.agents[sid].inputs] == ["start", "speech"]


async def test_the_clinic_graph_answers_a_refused_transfer_and_its_state_says_so(
    fake, control, tmp_path: Path, caplog
) -> None:
    """Twilio refuses (the call is unknown to it: 20404, not retried); the real
    graph on the ``local`` model apologises, and the checkpoint shows it."""
    sid = "CA" + "7" * 32  # a call Twilio does not know
    caplog.set_level(logging.INFO)
    async with open_flow_agents(
        load_flow("clinic", root=REPO), var_dir=tmp_path, today="2026-11-24T08:00"
    ) as (agents):
        line = Line(sid, agents, control, ["can i talk to someone", "what are your hours"])
        await line.until(line.heard("Riverside Family Clinic"))
        await line.speak()
        await line.until(line.heard("couldn't put you through"))
        assert [r.status for r in fake.updates_of(sid)] == [404], "a refusal is not repeated"
        assert line.heard("couldn't put you through to the front desk just now")()
        assert not line.task.done() and line.transport.closed is None
        await line.speak()
        await line.until(line.heard("open Monday to Friday"))
        agent = line.session._agent
        values = (await agent._graph.aget_state(agent.config)).values
        report = await line.hang_up()
    assert report.interruptions == 0
    assert requested_actions(values["messages"]) == [], "no transfer is under way"
    notes = [m for m in values["messages"] if m.additional_kwargs.get("source") == "event"]
    assert [n.additional_kwargs["event"] for n in notes] == [TRANSFER_FAILED]
    roles = [(e.role, e.text) for e in read_transcript(tmp_path / "transcripts" / f"{sid}.jsonl")]
    assert ("event", notes[0].content) in roles
    assert all(TRANSFER_FAILED not in text for role, text in roles if role == "caller")
    assert FRONT_DESK not in caplog.text and CALLER not in caplog.text
