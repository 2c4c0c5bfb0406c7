"""Checkpoints encrypted at rest: unreadable in the file, readable with the key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import START, MessagesState, StateGraph

from memory.checkpointer import open_checkpointer

SECRET_WORDS = "my card is four one one one"


def _graph(saver):
    builder = StateGraph(MessagesState)
    builder.add_node("echo", lambda state: {"messages": []})
    builder.add_edge(START, "echo")
    return builder.compile(checkpointer=saver)


async def _write(path: Path, key: str | None) -> None:
    async with open_checkpointer(f"sqlite:///{path}", encryption_key=key) as saver:
        graph = _graph(saver)
        config = {"configurable": {"thread_id": "t1"}}
        await graph.ainvoke({"messages": [HumanMessage(SECRET_WORDS)]}, config)


def _raw(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT checkpoint FROM checkpoints").fetchall()
        rows += db.execute("SELECT value FROM writes").fetchall()
    return b"".join(bytes(r[0]) for r in rows if r[0] is not None)


async def test_plain_checkpoints_show_what_was_said(tmp_path: Path) -> None:
    await _write(tmp_path / "plain.db", None)
    assert b"four one one one" in _raw(tmp_path / "plain.db")


async def test_encrypted_checkpoints_hide_it_and_load_with_the_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.db"
    await _write(path, "a long random secret")
    assert b"four one one one" not in _raw(path)
    async with open_checkpointer(
        f"sqlite:///{path}", encryption_key="a long random secret"
    ) as saver:
        state = await _graph(saver).aget_state({"configurable": {"thread_id": "t1"}})
    assert state.values["messages"][0].content == SECRET_WORDS


async def test_the_wrong_key_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "enc.db"
    await _write(path, "right key")
    async with open_checkpointer(f"sqlite:///{path}", encryption_key="wrong key") as saver:
        with pytest.raises(ValueError):
            await _graph(saver).aget_state({"configurable": {"thread_id": "t1"}})
