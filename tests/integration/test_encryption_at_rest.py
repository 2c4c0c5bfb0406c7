"""A whole clinic call, then the database as a thief would read it: nothing personal.

The clinic is opened as ``dialgraph serve`` opens it (``load_flow`` and
``open_flow_agents``, no key configured: the default), on the real SQLite
file and on the real Postgres. The caller books under their name and says a
card and a phone number as words. Afterwards every byte of the checkpoint
tables and the store is read raw: neither the words, nor the name, nor the
caller's number are there. Then the call's state and the caller's memory are
read back through the service, whole.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import TypedDict

import psycopg
import pytest
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import START, StateGraph

from dialgraph import load_flow
from graphs.runtime.service import open_flow_agents
from memory.checkpointer import open_checkpointer
from memory.encryption import CHECKPOINT_KEY_ENV, KEY_FILE_NAME, KeyRing
from memory.rekey import rotate
from memory.store import CallerMemory
from tests.postgres import fresh_schema

REPO = Path(__file__).resolve().parents[2]
TODAY = "2026-11-24T08:00"
CALLER = "+15550001111"
CARD_WORDS = "four one one one one one one one one one one one one one one one"
PHONE_WORDS = "five five five zero one two three four five six seven"
# Long enough that a chance match in ciphertext is negligible (about 1e-5 for 4 bytes).
NEVER_AT_REST = [
    b"four one one one",
    b"five five five zero",
    b"Diaz",
    b"diaz",
    b"5550001111",
]


async def _a_call(agents) -> str:
    agent = await agents(SimpleNamespace(call_sid="CAatrest", caller=CALLER))
    try:
        await _say(agent, "", "start")
        await _say(agent, f"my card number is {CARD_WORDS}")
        await _say(agent, f"call me back on {PHONE_WORDS}")
        await _say(agent, "i'd like to book a checkup for wednesday at three")
        reply = await _say(agent, "my name is ana diaz")
        if "name" in reply.lower():
            await _say(agent, "ana diaz")
        await _say(agent, "yes please")
        return agent.config["configurable"]["thread_id"]
    finally:
        await agent.aclose()  # the end-of-call hook records the visit


async def _say(agent, text: str, source: str = "speech") -> str:
    return "".join([t async for t in agent.respond(text, source=source)])


async def _reads_back(flow, var_dir: Path, database_url: str | None, thread_id: str) -> None:
    async with open_flow_agents(
        flow, database_url=database_url, var_dir=var_dir, today=TODAY
    ) as agents:
        snapshot = await agents.saver.aget_tuple({"configurable": {"thread_id": thread_id}})
        assert snapshot is not None
        said = " ".join(str(m.content) for m in snapshot.checkpoint["channel_values"]["messages"])
        assert CARD_WORDS in said and PHONE_WORDS in said
        profile = await CallerMemory(agents.store).get(CALLER)
        assert profile is not None and profile["name"] == "Ana Diaz"
        assert profile["last_visit"]


def _assert_nothing_personal(raw: bytes) -> None:
    assert len(raw) > 1000, "the call was saved"
    found = [secret.decode() for secret in NEVER_AT_REST if secret in raw]
    assert found == [], f"in the database in plain text: {found}"


@pytest.fixture
def clinic(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DIALGRAPH_MODEL", raising=False)  # the offline model
    monkeypatch.delenv(CHECKPOINT_KEY_ENV, raising=False)  # the default: a generated key
    return load_flow("clinic", root=REPO)


async def test_sqlite_holds_nothing_personal_and_reads_back(clinic, tmp_path: Path) -> None:
    async with open_flow_agents(clinic, var_dir=tmp_path, today=TODAY) as agents:
        thread_id = await _a_call(agents)
    assert (tmp_path / KEY_FILE_NAME).is_file()
    with sqlite3.connect(tmp_path / "dialgraph.db") as db:
        raw = b"".join(
            bytes(value) if isinstance(value, bytes) else str(value).encode()
            for table in ("checkpoints", "writes", "store", "dialgraph_effects")
            for row in db.execute(f"SELECT * FROM {table}")
            for value in row
            if value is not None
        )
    _assert_nothing_personal(raw)
    await _reads_back(clinic, tmp_path, None, thread_id)


async def test_postgres_holds_nothing_personal_and_reads_back(clinic, tmp_path: Path) -> None:
    async with fresh_schema() as (url, schema):
        async with open_flow_agents(clinic, database_url=url, var_dir=tmp_path, today=TODAY) as a:
            thread_id = await _a_call(a)
        raw = b""
        async with await psycopg.AsyncConnection.connect(url) as conn:
            tables = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "store")
            for table in (*tables, "dialgraph_effects"):
                cur = await conn.execute(f'SELECT * FROM "{schema}".{table}')
                for row in await cur.fetchall():
                    for value in row:
                        if isinstance(value, bytes | memoryview):
                            raw += bytes(value)
                        elif value is not None:
                            raw += str(value).encode()
        _assert_nothing_personal(raw)
        await _reads_back(clinic, tmp_path, url, thread_id)


class _Profile(TypedDict, total=False):
    name: str
    visits: int


def _profile_graph(saver):
    builder = StateGraph(_Profile)
    builder.add_node("count", lambda state: {"visits": state.get("visits", 0) + 1})
    builder.add_edge(START, "count")
    return builder.compile(checkpointer=saver)


async def test_postgres_string_fields_are_encrypted_and_old_rows_are_moved(tmp_path: Path) -> None:
    """LangGraph's stock Postgres saver keeps a ``str`` state field in plain JSON."""
    key = "rotation-test-key-0123456789"
    config = {"configurable": {"thread_id": "t1"}}
    async with fresh_schema() as (url, schema):
        async with AsyncPostgresSaver.from_conn_string(url, serde=KeyRing([key]).serializer()) as s:
            await s.setup()
            await _profile_graph(s).ainvoke({"name": "Ana Diaz"}, config)
        assert b"Diaz" in await _raw_checkpoints(url, schema), "the stock saver's leak"

        async with open_checkpointer(url, var_dir=tmp_path, encryption_key=key) as saver:
            graph = _profile_graph(saver)
            assert (await graph.aget_state(config)).values["name"] == "Ana Diaz", "old rows load"
            await graph.ainvoke({}, config)  # the name unchanged: no new version of it
            state = (await graph.aget_state(config)).values
            assert state == {"name": "Ana Diaz", "visits": 2}

        report = await rotate(url, key, var_dir=tmp_path)
        assert report.checkpoint_rows > 0
        assert b"Diaz" not in await _raw_checkpoints(url, schema)
        async with open_checkpointer(url, var_dir=tmp_path, encryption_key=key) as saver:
            history = [c.values async for c in _profile_graph(saver).aget_state_history(config)]
        assert all(v.get("name") == "Ana Diaz" for v in history if v), history


async def _raw_checkpoints(url: str, schema: str) -> bytes:
    raw = b""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            cur = await conn.execute(f'SELECT * FROM "{schema}".{table}')
            for row in await cur.fetchall():
                raw += repr(row).encode()
    return raw
