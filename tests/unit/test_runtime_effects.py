"""A team's own side-effecting tool: barge-in never cuts it halfway or repeats it.

The tool opens a support ticket (a row in a table the test owns). The turn
is cut by a barge-in at every point a caller could interrupt: while the
model streams before the tool call, while the tool runs, between the tool
and the model's reply, and while the reply streams. Afterwards exactly one
ticket exists, or none if the tool never started, and the history is valid
for the next turn. A repeated tool call (a resumed run)
is answered from the ledger, in memory or in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from dialgraph import is_side_effect, side_effect
from graphs.runtime.effects import current_ledger, use_ledger
from graphs.runtime.runner import GraphAgent
from memory.effects import EffectRecord, InMemoryEffectLedger, open_effect_ledger
from tests.fakes_graph import ScriptedChatModel, Step, assert_valid_history
from tests.postgres import fresh_schema

TICKETS: list[str] = []
IN_TOOL = asyncio.Event()
RELEASE_TOOL = asyncio.Event()


@side_effect
@tool
async def open_ticket(summary: str) -> str:
    """Open a support ticket.

    Args:
        summary: What is wrong, in a few words.
    """
    IN_TOOL.set()
    await RELEASE_TOOL.wait()
    TICKETS.append(summary)
    return f"Ticket {len(TICKETS)} opened."


@pytest.fixture(autouse=True)
def fresh() -> AsyncIterator[None]:
    global IN_TOOL, RELEASE_TOOL  # events bind to the loop of their first waiter
    TICKETS.clear()
    IN_TOOL, RELEASE_TOOL = asyncio.Event(), asyncio.Event()
    previous = use_ledger(InMemoryEffectLedger())
    yield
    use_ledger(previous)


def test_the_mark_keeps_the_tool_as_the_model_sees_it() -> None:
    assert is_side_effect(open_ticket)
    assert open_ticket.name == "open_ticket"
    assert "summary" in open_ticket.tool_call_schema.model_json_schema()["properties"]


CUT_POINTS = ("before_tool", "in_tool", "after_tool", "in_reply")


@pytest.mark.parametrize("cut", CUT_POINTS)
async def test_barge_in_at_every_point_yields_one_ticket_or_none(cut: str) -> None:
    before_tool, in_reply = asyncio.Event(), asyncio.Event()
    call = Step(tool_calls=[("open_ticket", {"summary": "no internet"})], gate=before_tool)
    reply = Step(text="Your ticket is open, we will call you back.", word_gate=(2, in_reply))
    model = ScriptedChatModel(steps=[call, reply])
    graph = create_agent(model, tools=[open_ticket], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id=f"t-{cut}", side_effect_grace=5.0)
    if cut != "in_tool":
        RELEASE_TOOL.set()
    if cut in {"after_tool", "in_reply"}:
        before_tool.set()

    async def turn() -> None:
        async for _ in agent.respond("my internet is down, open a ticket"):
            pass

    task = asyncio.create_task(turn())
    if cut == "before_tool":
        await call.started.wait()
    elif cut == "in_tool":
        before_tool.set()
        await IN_TOOL.wait()
    else:
        await reply.started.wait()
    if cut == "in_tool":
        # The barge-in arrives while the ticket is being written: cancel waits for it.
        cancelling = asyncio.create_task(agent.cancel())
        await asyncio.sleep(0.05)
        assert not cancelling.done(), "a side effect under way is never cut halfway"
        RELEASE_TOOL.set()
        task.cancel()
        await cancelling
    else:
        task.cancel()
        await agent.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await agent.record_heard("")
    expected = 0 if cut == "before_tool" else 1
    assert len(TICKETS) == expected
    state = await graph.aget_state(agent.config)
    assert_valid_history(state.values["messages"])


async def test_a_repeated_tool_call_is_answered_from_the_ledger_not_run_again() -> None:
    RELEASE_TOOL.set()
    call = {"name": "open_ticket", "args": {"summary": "no dial tone"}, "id": "call_7"}
    config = {"configurable": {"thread_id": "t-replay"}}
    first = await open_ticket.ainvoke({**call, "type": "tool_call"}, config)
    again = await open_ticket.ainvoke({**call, "type": "tool_call"}, config)
    assert TICKETS == ["no dial tone"]
    assert again.content == first.content == "Ticket 1 opened."
    other_call = await open_ticket.ainvoke({**call, "id": "call_8", "type": "tool_call"}, config)
    assert other_call.content == "Ticket 2 opened."  # a new request is a new ticket


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_ledger_in_the_database_keeps_the_first_outcome(
    backend: str, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":
            url, _ = await stack.enter_async_context(fresh_schema())
        else:
            url = f"sqlite:///{tmp_path}/effects.db"
        ledger = await stack.enter_async_context(open_effect_ledger(url, var_dir=tmp_path))
        key = "thread-1:call_1"
        assert await ledger.get(key) is None
        await ledger.put(key, EffectRecord("open_ticket", "Ticket 1 opened.", {"id": 1}))
        await ledger.put(key, EffectRecord("open_ticket", "Ticket 2 opened.", {"id": 2}))
        record = await ledger.get(key)
    assert record == EffectRecord("open_ticket", "Ticket 1 opened.", {"id": 1})
    assert record.message("call_1").artifact == {"id": 1}
    assert isinstance(current_ledger(), InMemoryEffectLedger)  # opening one changes nothing


def _database_bytes(directory: Path, name: str) -> bytes:
    """The SQLite file and its WAL, as a thief with the disk would read them."""
    return b"".join(f.read_bytes() for f in directory.glob(f"{name}*"))


async def test_the_ledger_holds_results_sealed_and_still_reads_plain_rows(tmp_path: Path) -> None:
    path = tmp_path / "effects.db"
    url, secret = f"sqlite:///{path}", "ledger-key-0123456789abcdef"
    async with open_effect_ledger(url, var_dir=tmp_path, encryption_key="off") as plain:
        await plain.put("t:old", EffectRecord("book", "Booked for Ana Diaz.", {"who": "Ana"}))
    async with open_effect_ledger(url, var_dir=tmp_path, encryption_key=secret) as ledger:
        await ledger.put("t:new", EffectRecord("book", "Booked for Rui Costa.", {"who": "Rui"}))
        new, old = await ledger.get("t:new"), await ledger.get("t:old")
    assert new == EffectRecord("book", "Booked for Rui Costa.", {"who": "Rui"})
    assert old == EffectRecord("book", "Booked for Ana Diaz.", {"who": "Ana"})  # from before
    raw = _database_bytes(tmp_path, "effects.db")
    assert b"Rui" not in raw and b"Costa" not in raw  # sealed at rest
    async with open_effect_ledger(url, var_dir=tmp_path, encryption_key="off") as plain:
        with pytest.raises(ValueError, match="DIALGRAPH_CHECKPOINT_KEY"):
            await plain.get("t:new")


async def test_an_effect_slower_than_the_grace_is_not_reported_as_cancelled() -> None:
    call = Step(tool_calls=[("open_ticket", {"summary": "slow database"})])
    model = ScriptedChatModel(steps=[call, Step(text="Done.")])
    graph = create_agent(model, tools=[open_ticket], checkpointer=InMemorySaver())
    agent = GraphAgent(graph, thread_id="t-slow", side_effect_grace=0.05, effect_settle_s=0.05)

    async def turn() -> None:
        async for _ in agent.respond("open a ticket"):
            pass

    task = asyncio.create_task(turn())
    await IN_TOOL.wait()
    task.cancel()
    await agent.cancel()  # gives up waiting after the grace; the write goes on
    with pytest.raises(asyncio.CancelledError):
        await task
    state = await graph.aget_state(agent.config)
    answer = next(m for m in state.values["messages"] if isinstance(m, ToolMessage))
    assert answer.content.startswith("Not finished when the caller interrupted")
    RELEASE_TOOL.set()
    for _ in range(100):  # the shielded write completes on its own
        if TICKETS:
            break
        await asyncio.sleep(0.01)
    assert TICKETS == ["slow database"]
