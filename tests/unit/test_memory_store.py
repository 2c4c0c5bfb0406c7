"""Caller memory on the SQLite store: profiles keyed by phone number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph.store.base import BaseStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from memory.checkpointer import DATABASE_URL_ENV, open_checkpointer
from memory.store import CALLERS_NAMESPACE, CallerMemory, make_store, open_store

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
MARIA = "+15550101234"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[BaseStore]:
    async with open_store(f"sqlite:///{tmp_path}/dialgraph.db") as opened:
        yield opened


async def test_first_call_is_unknown_then_remembered(store: BaseStore) -> None:
    memory = CallerMemory(store, clock=lambda: NOW)
    assert await memory.get(MARIA) is None

    await memory.remember(MARIA, name="Maria Lopez")
    await memory.record_visit(MARIA)

    profile = await memory.get(MARIA)
    assert profile is not None
    assert profile["name"] == "Maria Lopez"
    assert profile["last_visit"] == "2025-03-04T10:30:00+00:00"
    # Stored where Studio's store browser shows it.
    item = await store.aget((CALLERS_NAMESPACE, MARIA), "profile")
    assert item is not None
    assert item.value["name"] == "Maria Lopez"


async def test_remember_merges_and_none_forgets(store: BaseStore) -> None:
    memory = CallerMemory(store, clock=lambda: NOW)
    await memory.remember(MARIA, name="Maria", preferred_doctor="Dr. Patel")
    await memory.remember(MARIA, name="Maria Lopez", preferred_doctor=None)
    profile = await memory.get(MARIA)
    assert profile == {
        "name": "Maria Lopez",
        "last_visit": None,
        "updated_at": NOW.isoformat(),
    }
    await memory.remember(MARIA, name=None)
    assert (await memory.get(MARIA))["name"] is None, "name stays in the document"


async def test_callers_are_kept_apart(store: BaseStore) -> None:
    memory = CallerMemory(store, clock=lambda: NOW)
    await memory.remember(MARIA, name="Maria")
    await memory.remember("+15550109999", name="Sam")
    assert (await memory.get(MARIA))["name"] == "Maria"
    assert (await memory.get("+15550109999"))["name"] == "Sam"


@pytest.mark.parametrize("phone", ["", "Anonymous", "sip:alice@example.com", "5550101234", "+0123"])
async def test_withheld_or_malformed_numbers_are_never_stored(store: BaseStore, phone: str) -> None:
    memory = CallerMemory(store)
    assert await memory.remember(phone, name="Someone") is None
    assert await memory.get(phone) is None
    assert await store.alist_namespaces(prefix=(CALLERS_NAMESPACE,)) == []


async def test_forget(store: BaseStore) -> None:
    memory = CallerMemory(store)
    await memory.remember(MARIA, name="Maria")
    await memory.forget(MARIA)
    assert await memory.get(MARIA) is None


async def test_store_and_checkpointer_share_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One URL, one database: the service's and ``langgraph dev``'s store agree."""
    url = f"sqlite:///{tmp_path}/shared.db"
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    async with open_checkpointer(url), open_store(url) as service:
        await CallerMemory(service).remember(MARIA, name="Maria")
    async with make_store() as studio:
        assert isinstance(studio, AsyncSqliteStore)
        assert (await CallerMemory(studio).get(MARIA))["name"] == "Maria"
