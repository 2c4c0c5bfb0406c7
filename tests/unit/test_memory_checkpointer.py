"""The checkpointer factory on SQLite files, and pruning a call's old checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypedDict

import aiosqlite
import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from memory.checkpointer import (
    DATABASE_URL_ENV,
    Database,
    make_checkpointer,
    open_checkpointer,
    prune_checkpoints,
    resolve_database,
)
from memory.window import windowed_messages


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, Database("sqlite", "var/dialgraph.db")),
        ("", Database("sqlite", "var/dialgraph.db")),
        ("sqlite:///var/calls.db", Database("sqlite", "var/calls.db")),
        ("sqlite:////srv/dialgraph/state.db", Database("sqlite", "/srv/dialgraph/state.db")),
        ("sqlite:///:memory:", Database("sqlite", ":memory:")),
        (
            "postgresql://postgres@db:5432/app",
            Database("postgres", "postgresql://postgres@db:5432/app"),
        ),
        ("postgres://u:pw@db/app", Database("postgres", "postgresql://u:pw@db/app")),
        ("postgresql+psycopg://u@db/app", Database("postgres", "postgresql://u@db/app")),
    ],
)
def test_resolve_database(url: str | None, expected: Database) -> None:
    assert resolve_database(url) == expected


@pytest.mark.parametrize("url", ["mysql://db/app", "sqlite://relative.db", "sqlite:///"])
def test_resolve_database_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        resolve_database(url)


def test_describe_hides_the_password() -> None:
    database = resolve_database("postgresql://app:s3cret@db.internal:5433/calls")
    assert database.describe() == "postgres db.internal:5433/calls"


def _echo_builder(reducer: Any = add_messages) -> StateGraph:
    # Functional form: the reducer is a local, which a string annotation can't see.
    state = TypedDict("State", {"messages": Annotated[list[AnyMessage], reducer]})  # noqa: UP013

    def agent(s: dict[str, Any]) -> dict[str, list[AnyMessage]]:
        return {"messages": [AIMessage(f"you said {s['messages'][-1].content}")]}

    builder = StateGraph(state)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def test_default_is_a_sqlite_file_under_var_dir(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    async with open_checkpointer(var_dir=var_dir) as saver:
        assert isinstance(saver, AsyncSqliteSaver)
        async with saver.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    assert (var_dir / "dialgraph.db").is_file()


async def test_state_survives_reopening_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/deep/dir/state.db"
    async with open_checkpointer(url) as saver:
        graph = _echo_builder().compile(checkpointer=saver)
        await graph.ainvoke({"messages": [HumanMessage("hello")]}, _config("CA1"))
    async with open_checkpointer(url) as saver:
        graph = _echo_builder().compile(checkpointer=saver)
        await graph.ainvoke({"messages": [HumanMessage("again")]}, _config("CA1"))
        messages = (await graph.aget_state(_config("CA1"))).values["messages"]
    assert [m.content for m in messages] == ["hello", "you said hello", "again", "you said again"]


async def test_make_checkpointer_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``langgraph dev`` and the service open the same file through one variable."""
    url = f"sqlite:///{tmp_path}/shared.db"
    async with open_checkpointer(url) as service:
        graph = _echo_builder().compile(checkpointer=service)
        await graph.ainvoke({"messages": [HumanMessage("live call")]}, _config("CA2"))
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    async with make_checkpointer() as studio:
        found = await studio.aget_tuple(_config("CA2"))
    assert found is not None
    assert found.checkpoint["channel_values"]["messages"][0].content == "live call"


async def _count(path: Path, table: str, thread_id: str) -> int:
    async with (
        aiosqlite.connect(path) as conn,
        conn.execute(f"SELECT count(*) FROM {table} WHERE thread_id = ?", (thread_id,)) as cur,
    ):
        return (await cur.fetchone())[0]


async def test_prune_keeps_the_latest_and_the_call_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "prune.db"
    async with open_checkpointer(f"sqlite:///{path}") as saver:
        graph = _echo_builder(windowed_messages(4)).compile(checkpointer=saver)
        for turn in range(6):
            await graph.ainvoke({"messages": [HumanMessage(f"turn {turn}")]}, _config("CA3"))
            await graph.ainvoke({"messages": [HumanMessage("other")]}, _config("CA-other"))
        before = await _count(path, "checkpoints", "CA3")

        deleted = await prune_checkpoints(saver, "CA3", keep=2)

        assert deleted == before - 2
        assert await _count(path, "checkpoints", "CA3") == 2
        history = [s async for s in graph.aget_state_history(_config("CA3"))]
        assert len(history) == 2
        assert history[-1].parent_config is None, "the oldest kept checkpoint is the root"
        # Writes of deleted checkpoints are gone; the other call is untouched.
        async with aiosqlite.connect(path) as conn:
            query = (
                "SELECT count(*) FROM writes w WHERE thread_id = 'CA3' AND NOT EXISTS ("
                "SELECT 1 FROM checkpoints c WHERE c.thread_id = w.thread_id "
                "AND c.checkpoint_id = w.checkpoint_id)"
            )
            async with conn.execute(query) as cur:
                assert (await cur.fetchone())[0] == 0
        assert await _count(path, "checkpoints", "CA-other") == before

        await graph.ainvoke({"messages": [HumanMessage("after prune")]}, _config("CA3"))
        messages = (await graph.aget_state(_config("CA3"))).values["messages"]
        assert [m.content for m in messages][-2:] == ["after prune", "you said after prune"]
        assert await prune_checkpoints(saver, "CA3", keep=2) == 3  # one turn: 3 checkpoints


async def test_prune_refuses_delta_channel_threads(tmp_path: Path) -> None:
    def replay(state: list[AnyMessage], writes: list[Any]) -> list[AnyMessage]:
        for write in writes:
            state = add_messages(state, write)
        return state

    async with open_checkpointer(f"sqlite:///{tmp_path}/delta.db") as saver:
        graph = _echo_builder(DeltaChannel(replay)).compile(checkpointer=saver)
        await graph.ainvoke({"messages": [HumanMessage("hi")]}, _config("CA4"))
        with pytest.raises(NotImplementedError, match="DeltaChannel"):
            await prune_checkpoints(saver, "CA4", keep=1)


async def test_prune_arguments_and_other_savers() -> None:
    saver = InMemorySaver()
    assert await prune_checkpoints(saver, "CA5") == 0
    with pytest.raises(ValueError, match="at least 1"):
        await prune_checkpoints(saver, "CA5", keep=0)
