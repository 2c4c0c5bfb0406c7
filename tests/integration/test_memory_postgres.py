"""Checkpointer, pruning and caller memory against the real Postgres.

Uses ``DIALGRAPH_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Every run uses fresh thread
ids and phone numbers, so runs never see each other's rows. Skipped, with the
reason, only when the server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.postgres.aio import AsyncPostgresStore

from memory.checkpointer import DATABASE_URL_ENV, make_checkpointer, open_checkpointer
from memory.checkpointer import prune_checkpoints as prune
from memory.store import CallerMemory, make_store, open_store
from memory.window import windowed_messages

URL = os.environ.get("DIALGRAPH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable() -> str | None:
    try:
        with psycopg.connect(URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"Postgres at {URL} unreachable: {exc}".splitlines()[0]
    return None


_UNREACHABLE = _reachable()
pytestmark = pytest.mark.skipif(_UNREACHABLE is not None, reason=_UNREACHABLE or "")


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], windowed_messages(6)]


def _graph(saver: BaseCheckpointSaver[Any]):
    """Books on request (a tool round), otherwise echoes."""

    def agent(state: _State) -> dict:
        last = state["messages"][-1]
        if isinstance(last, HumanMessage) and "book" in last.content:
            call = {"name": "book_appointment", "args": {}, "id": f"call-{uuid.uuid4().hex}"}
            return {"messages": [AIMessage("", tool_calls=[call])]}
        return {"messages": [AIMessage(f"reply to {last.content}")]}

    def tools(state: _State) -> dict:
        call = state["messages"][-1].tool_calls[0]
        return {"messages": [ToolMessage("booked", tool_call_id=call["id"])]}

    def route(state: _State) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    builder = StateGraph(_State)
    builder.add_node("agent", agent)
    builder.add_node("tools", tools)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tools", END])
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver)


@pytest.fixture
async def saver() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    async with open_checkpointer(URL, pool_max_size=4) as opened:
        yield opened


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def _rows(saver: AsyncPostgresSaver, table: str, thread_id: str) -> int:
    async with saver.conn.connection() as conn:
        cur = await conn.execute(
            f"SELECT count(*) AS n FROM {table} WHERE thread_id = %s", (thread_id,)
        )
        return (await cur.fetchone())["n"]


async def test_round_trip_across_pools(saver: BaseCheckpointSaver[Any]) -> None:
    assert isinstance(saver, AsyncPostgresSaver)
    thread = str(uuid.uuid4())  # langgraph dev wants UUID thread ids
    await _graph(saver).ainvoke({"messages": [HumanMessage("hello")]}, _config(thread))
    # A second worker (its own pool) continues the same call.
    async with open_checkpointer(URL) as other:
        graph = _graph(other)
        await graph.ainvoke({"messages": [HumanMessage("book a checkup")]}, _config(thread))
        messages = (await graph.aget_state(_config(thread))).values["messages"]
    assert [type(m).__name__ for m in messages] == [
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]


async def test_prune_drops_old_checkpoints_writes_and_blobs(
    saver: BaseCheckpointSaver[Any],
) -> None:
    assert isinstance(saver, AsyncPostgresSaver)
    thread, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    graph = _graph(saver)
    for turn in range(8):
        text = "book please" if turn % 3 == 0 else f"question {turn}"
        await graph.ainvoke({"messages": [HumanMessage(text)]}, _config(thread))
    await graph.ainvoke({"messages": [HumanMessage("hi")]}, _config(bystander))
    expected = (await graph.aget_state(_config(thread))).values["messages"]
    blobs_before = await _rows(saver, "checkpoint_blobs", thread)
    bystander_rows = await _rows(saver, "checkpoints", bystander)

    deleted = await prune(saver, thread, keep=3)

    assert deleted > 0
    assert await _rows(saver, "checkpoints", thread) == 3
    assert await _rows(saver, "checkpoint_blobs", thread) < blobs_before
    assert await _rows(saver, "checkpoints", bystander) == bystander_rows
    state = await graph.aget_state(_config(thread))
    assert state.values["messages"] == expected, "the latest state reads back whole"
    history = [s async for s in graph.aget_state_history(_config(thread))]
    assert len(history) == 3
    assert history[-1].parent_config is None
    await graph.ainvoke({"messages": [HumanMessage("book again")]}, _config(thread))
    last = (await graph.aget_state(_config(thread))).values["messages"][-1]
    assert last.content == "reply to booked"


async def test_caller_memory_and_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
    async with open_store(URL) as store:
        assert isinstance(store.store, AsyncPostgresStore)  # under the encrypting wrapper
        memory = CallerMemory(store)
        assert await memory.get(phone) is None
        await memory.remember(phone, name="Maria Lopez")
        await memory.record_visit(phone)
    monkeypatch.setenv(DATABASE_URL_ENV, URL)
    async with make_store() as studio_store, make_checkpointer() as studio_saver:
        assert isinstance(studio_saver, AsyncPostgresSaver)
        memory = CallerMemory(studio_store)
        profile = await memory.get(phone)
        assert profile is not None
        assert profile["name"] == "Maria Lopez"
        assert profile["last_visit"] is not None
        await memory.forget(phone)
        assert await memory.get(phone) is None
