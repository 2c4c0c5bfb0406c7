"""The phone runtime's GraphAgent on the real clinic graph, tools, calendar and SQLite.

The chat model is scripted (tests/fakes_graph.py) so a test can stop a turn
at an exact point -- while the model streams, while a booking is being
written, between nodes -- cancel it as a barge-in would, and then check what
a caller would care about: the history is valid for the next turn, the
caller's words are kept, the reply is stored as heard, and a booking exists
exactly once or not at all. The agent is set up as the phone service sets it
up (``graphs.runtime.service``): the clinic's context and phone settings, the
call facts in ``configurable``, and a side-effect ledger (in memory here).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.messages import HumanMessage, ToolMessage

from dialgraph import CallFacts, StartupInfo, caller_turn, requested_actions
from graphs.clinic.agent import make_builder, phone
from graphs.runtime.contract import CALL_KEY
from graphs.runtime.effects import use_ledger
from graphs.runtime.runner import GraphAgent, thread_id_for_call
from memory.checkpointer import open_checkpointer
from memory.effects import InMemoryEffectLedger
from memory.store import open_store
from tests.fakes_graph import ScriptedChatModel, Step, assert_valid_history
from tools.calendar import Calendar, get_calendar
from tools.clinic import FRONT_DESK

CALLER = "+15550001111"
TODAY = "2026-11-24"  # a Tuesday
BOOKING = {"appointment_type": "checkup", "day": "2026-11-27", "time": "14:00", "name": "Ana Diaz"}


@pytest.fixture
async def clinic(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    db_url = f"sqlite:///{tmp_path}/clinic.db"
    model = ScriptedChatModel(steps=[])
    previous = use_ledger(InMemoryEffectLedger())
    async with open_checkpointer(db_url) as saver, open_store(db_url) as store:
        graph = make_builder(lambda spec: model).compile(checkpointer=saver, store=store)
        facts = CallFacts(call_sid="CA1", caller=CALLER, timezone=phone.timezone, today=TODAY)
        startup = StartupInfo(database_url=db_url, today=TODAY, timezone=phone.timezone)
        assert phone.context is not None
        context = phone.context(facts, startup)

        def new_agent(**kwargs) -> GraphAgent:
            return GraphAgent(
                graph,
                thread_id=thread_id_for_call("CA1"),
                context=context,
                configurable={CALL_KEY: facts.to_config()},
                spoken_nodes=phone.spoken_nodes,
                transfer_targets=phone.transfer_targets,
                greeting=phone.greeting,
                **kwargs,
            )

        yield SimpleNamespace(
            model=model, graph=graph, agent=new_agent(), new_agent=new_agent, db_url=db_url
        )
    use_ledger(previous)


async def say(agent: GraphAgent, text: str, source: str = "speech") -> str:
    return "".join([token async for token in agent.respond(text, source=source)])


async def messages(clinic) -> list:
    state = await clinic.graph.aget_state(clinic.agent.config)
    return list(state.values.get("messages", []))


async def bookings(db_url: str) -> list[dict]:
    return await get_calendar(db_url).upcoming(CALLER, now=datetime(2026, 11, 24, 8, 0))


class Barge:
    """Consume a turn like the session does, so a test can cut it anywhere."""

    def __init__(self, agent: GraphAgent, text: str) -> None:
        self.tokens: list[str] = []
        self._token = asyncio.Condition()
        self.task = asyncio.create_task(self._consume(agent, text))

    async def _consume(self, agent: GraphAgent, text: str) -> None:
        async with contextlib.aclosing(agent.respond(text)) as run:
            async for token in run:
                async with self._token:
                    self.tokens.append(token)
                    self._token.notify_all()

    async def heard_words(self, count: int) -> None:
        async with self._token:
            await self._token.wait_for(lambda: len(self.tokens) >= count)

    async def cut(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_greeting_then_booking_turn(clinic) -> None:
    greeting = await say(clinic.agent, "", source="start")
    assert "Riverside Family Clinic" in greeting
    assert clinic.model.seen == [], "the clinic's greet node answers the call start"
    start = (await messages(clinic))[0]
    assert caller_turn(start)["source"] == "start"
    clinic.model.steps += [
        Step(tool_calls=[("book_appointment", BOOKING)]),
        Step(text="You are booked."),
    ]
    reply = await say(clinic.agent, "book a checkup friday at two for ana diaz")
    assert reply == "You are booked."
    assert [b["time"] for b in await bookings(clinic.db_url)] == ["14:00"]
    history = await messages(clinic)
    assert_valid_history(history)
    assert clinic.agent.pending_action() is None
    # The second model call saw the booking tool's result.
    assert any(
        isinstance(m, ToolMessage) and m.name == "book_appointment" for m in clinic.model.seen[-1]
    )


async def test_cancel_while_the_model_streams_keeps_caller_words_and_heard_reply(clinic) -> None:
    await say(clinic.agent, "", source="start")
    gate = asyncio.Event()
    clinic.model.steps.append(
        Step(text="We are open from nine to five on weekdays.", word_gate=(3, gate))
    )
    barge = Barge(clinic.agent, "when are you open")
    await barge.heard_words(3)
    await barge.cut()
    await clinic.agent.cancel()
    await clinic.agent.record_heard("We are open")
    history = await messages(clinic)
    assert isinstance(history[-2], HumanMessage) and history[-2].content == "when are you open"
    assert history[-1].content == "We are open"
    assert history[-1].response_metadata.get("interrupted") is True
    assert_valid_history(history)
    # The next turn runs normally on that history.
    clinic.model.steps.append(Step(text="Sorry, go ahead."))
    assert await say(clinic.agent, "sorry what about saturday") == "Sorry, go ahead."
    assert_valid_history(await messages(clinic))


async def test_cancel_during_a_booking_waits_for_it_and_books_once(clinic, monkeypatch) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    original = Calendar.book

    async def slow_book(self, *args, **kwargs):
        entered.set()
        await release.wait()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Calendar, "book", slow_book)
    clinic.model.steps += [Step(tool_calls=[("book_appointment", BOOKING)]), Step(text="Booked.")]
    barge = Barge(clinic.agent, "yes book it")
    await entered.wait()
    await barge.cut()
    cancelling = asyncio.create_task(clinic.agent.cancel())
    await asyncio.sleep(0.1)
    assert not cancelling.done(), "a booking in progress is never cut halfway"
    release.set()
    await asyncio.wait_for(cancelling, 10)
    assert len(await bookings(clinic.db_url)) == 1
    history = await messages(clinic)
    assert_valid_history(history)
    answer = next(m for m in history if isinstance(m, ToolMessage))
    assert answer.artifact["ok"] is True
    # A new turn sees the booking and does not make a second one.
    clinic.model.steps.append(Step(text="You are all set for Friday."))
    await say(clinic.agent, "is it booked")
    assert len(await bookings(clinic.db_url)) == 1


@pytest.mark.parametrize(
    "inside_write",
    [True, False],
)
async def test_a_booking_cut_past_its_grace_books_once_and_the_state_says_so(
    clinic, monkeypatch, inside_write: bool
) -> None:
    """With no grace period the run is cut at once, here inside the booking tool
    (in the calendar's write, or before it). The tool is a side effect: shielded,
    it books anyway, exactly once; the repair must answer the open call with that
    booking. Never two bookings, never a booking the state denies."""
    entered, release, landed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    original = Calendar._effect

    async def gated_effect(self, key, tool, decide):
        async def gated(tx):
            entered.set()
            await release.wait()
            return await decide(tx)

        try:
            if inside_write:
                return await original(self, key, tool, gated)
            entered.set()
            await release.wait()
            return await original(self, key, tool, decide)
        finally:
            landed.set()

    monkeypatch.setattr(Calendar, "_effect", gated_effect)
    agent = clinic.new_agent(side_effect_grace=0.0)
    clinic.model.steps += [Step(tool_calls=[("book_appointment", BOOKING)]), Step(text="Booked.")]
    barge = Barge(agent, "yes book it")
    await entered.wait()
    await barge.cut()
    cancelling = asyncio.create_task(agent.cancel())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(cancelling, 10)
    await asyncio.wait_for(landed.wait(), 10)  # the shielded booking is over, either way
    history = await messages(clinic)
    assert_valid_history(history)
    answer = next(m for m in history if isinstance(m, ToolMessage))
    assert len(await bookings(clinic.db_url)) == 1
    assert answer.status == "success" and answer.artifact["ok"] is True, answer.content


async def test_a_turn_cut_before_the_booking_tool_started_books_nothing(clinic) -> None:
    asking = Step(tool_calls=[("book_appointment", BOOKING)], gate=asyncio.Event())
    clinic.model.steps.append(asking)
    barge = Barge(clinic.agent, "yes book it")
    await asking.started.wait()  # the model is about to ask for the booking
    await barge.cut()
    await clinic.agent.cancel()
    history = await messages(clinic)
    assert_valid_history(history)
    assert isinstance(history[-1], HumanMessage) and history[-1].content == "yes book it"
    assert await bookings(clinic.db_url) == []


async def test_cancel_before_a_tool_ran_answers_the_call_as_cancelled(clinic) -> None:
    answer = Step(text="Friday has openings at nine.", gate=asyncio.Event())
    clinic.model.steps += [Step(tool_calls=[("check_availability", {"day": "2026-11-27"})]), answer]
    barge = Barge(clinic.agent, "anything friday")
    await answer.started.wait()  # held between nodes: the tool ran, the model waits
    await barge.cut()
    await clinic.agent.cancel()
    history = await messages(clinic)
    assert_valid_history(history)
    assert isinstance(history[-1], ToolMessage) and history[-1].name == "check_availability"
    clinic.model.steps.append(Step(text="How can I help?"))
    assert await say(clinic.agent, "never mind") == "How can I help?"
    assert_valid_history(await messages(clinic))


async def test_transfer_is_requested_in_the_checkpoint_and_surfaces_as_call_action(
    clinic,
) -> None:
    clinic.model.steps += [
        Step(tool_calls=[("transfer_to_front_desk", {"reason": "caller asked for a person"})]),
        Step(text="Let me put you through."),
    ]
    await say(clinic.agent, "can i talk to someone")
    action = clinic.agent.pending_action()
    assert action == {
        "kind": "transfer",
        "target": FRONT_DESK,  # the number behind "front desk" in the clinic's settings
        "reason": "caller asked for a person",
    }
    assert clinic.agent.pending_action() is None, "an action is handed over once"
    assert [r["kind"] for r in requested_actions(await messages(clinic))] == ["transfer"]


async def test_a_failed_transfer_reaches_the_model_as_a_note_and_clears_the_request(
    clinic,
) -> None:
    clinic.model.steps += [
        Step(tool_calls=[("transfer_to_front_desk", {"reason": "caller asked for a person"})]),
        Step(text="Let me put you through."),
        Step(text="Sorry, I couldn't put you through."),
    ]
    await say(clinic.agent, "can i talk to someone")
    assert clinic.agent.pending_action()["kind"] == "transfer"
    assert await say(clinic.agent, "transfer_failed", source="event") == (
        "Sorry, I couldn't put you through."
    )
    shown = clinic.model.seen[-1][-1]
    assert isinstance(shown, HumanMessage) and shown.content.startswith("[event: transfer_failed]")
    assert "[event: transfer_failed]" in clinic.model.seen[-1][0].content, "the prompt explains it"
    assert requested_actions(await messages(clinic)) == [], "no transfer under way any more"
    assert clinic.agent.pending_action() is None
    assert_valid_history(await messages(clinic))


async def test_threads_are_uuids_derived_from_the_call_sid() -> None:
    import uuid

    assert thread_id_for_call("CA1") == thread_id_for_call("CA1")
    assert thread_id_for_call("CA1") != thread_id_for_call("CA2")
    uuid.UUID(thread_id_for_call("CA1"))


async def test_the_reply_ends_before_the_after_turn_hook_and_the_next_turn_waits(clinic) -> None:
    """The caller hears the end of a reply without waiting for its transcript and
    pruning (the hook runs after the last token); the next turn starts only
    once that hook is done, so entries stay in order."""
    release = asyncio.Event()
    seen: list[int] = []

    async def slow_hook(values) -> None:
        await release.wait()
        seen.append(len(values["messages"]))

    agent = clinic.new_agent(on_turn_end=slow_hook)
    await asyncio.wait_for(say(agent, "", source="start"), 10)  # returns, hook still waiting
    assert seen == []
    clinic.model.steps.append(Step(text="We open at nine."))
    second = asyncio.create_task(say(agent, "when do you open"))
    await asyncio.sleep(0.2)
    assert not second.done() and clinic.model.seen == []  # held for the first turn's hook
    release.set()
    assert await asyncio.wait_for(second, 10) == "We open at nine."
    await agent.aclose()  # waits for the second turn's hook
    assert len(seen) == 2 and seen[0] < seen[1]
