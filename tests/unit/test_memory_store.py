"""Caller memory on the SQLite store: profiles keyed by phone number, encrypted at rest."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langgraph.store.base import BaseStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from memory.checkpointer import DATABASE_URL_ENV, open_checkpointer
from memory.encryption import CHECKPOINT_KEY_ENV, VAR_DIR_ENV, WrongKeyError
from memory.rekey import rotate
from memory.store import CALLERS_NAMESPACE, CallerMemory, EncryptedStore, make_store, open_store

NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
MARIA = "+15550101234"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[BaseStore]:
    async with open_store(f"sqlite:///{tmp_path}/dialgraph.db", var_dir=tmp_path) as opened:
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
    monkeypatch.setenv(VAR_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(CHECKPOINT_KEY_ENV, raising=False)
    async with (
        open_checkpointer(url, var_dir=tmp_path),
        open_store(url, var_dir=tmp_path, encryption_key="") as service,
    ):
        await CallerMemory(service).remember(MARIA, name="Maria")
    async with make_store() as studio:  # finds the key file the service generated
        assert isinstance(studio, EncryptedStore)
        assert isinstance(studio.store, AsyncSqliteStore)
        assert (await CallerMemory(studio).get(MARIA))["name"] == "Maria"


# -- encrypted at rest ---------------------------------------------------------------

OLD = "old-key-0123456789abcdef"
NEW = "new-key-fedcba9876543210"


def _raw_store(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT prefix, key, value FROM store").fetchall()
    return repr(rows).encode()


async def _remember(path: Path, key: str, **facts: object) -> None:
    async with open_store(f"sqlite:///{path}", var_dir=path.parent, encryption_key=key) as store:
        await CallerMemory(store, clock=lambda: NOW).remember(MARIA, **facts)


async def _recall(path: Path, key: str) -> dict | None:
    async with open_store(f"sqlite:///{path}", var_dir=path.parent, encryption_key=key) as store:
        return await CallerMemory(store).get(MARIA)


async def test_the_database_shows_neither_the_caller_nor_what_is_remembered(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dialgraph.db"
    await _remember(path, "", name="Maria Lopez", allergy="penicillin")
    raw = _raw_store(path)
    for secret in (b"Maria", b"penicillin", b"5550101234"):
        assert secret not in raw
    assert (await _recall(path, ""))["allergy"] == "penicillin"


async def test_the_number_is_a_keyed_label_and_the_item_reads_back_whole(store: BaseStore) -> None:
    await CallerMemory(store, clock=lambda: NOW).remember(MARIA, name="Maria")
    spaces = await store.alist_namespaces(prefix=(CALLERS_NAMESPACE,))
    assert len(spaces) == 1 and spaces[0][1].startswith("h:") and MARIA not in spaces[0][1]
    found = await store.asearch((CALLERS_NAMESPACE,))
    assert [(i.namespace, i.value["name"]) for i in found] == [
        ((CALLERS_NAMESPACE, MARIA), "Maria")
    ]
    by_label = await store.aget(spaces[0], "profile")
    assert by_label is not None and by_label.namespace == (CALLERS_NAMESPACE, MARIA)


async def test_search_filters_and_pages_over_decrypted_values(store: BaseStore) -> None:
    for n in range(5):
        await store.aput(("notes",), f"n{n}", {"kind": "even" if n % 2 == 0 else "odd", "n": n})
    evens = await store.asearch(("notes",), filter={"kind": "even"}, limit=10)
    assert sorted(i.value["n"] for i in evens) == [0, 2, 4]
    big = await store.asearch(("notes",), filter={"n": {"$gte": 3}})
    assert sorted(i.value["n"] for i in big) == [3, 4]
    assert len(await store.asearch(("notes",), limit=2, offset=1)) == 2


async def test_memory_from_before_encryption_is_found_and_moved_on_write(tmp_path: Path) -> None:
    path = tmp_path / "dialgraph.db"
    await _remember(path, "off", name="Maria Lopez")
    assert b"Maria Lopez" in _raw_store(path), "off: plain text, for SQL inspection"
    assert (await _recall(path, NEW))["name"] == "Maria Lopez"
    await _remember(path, NEW, name="Maria L.")
    raw = _raw_store(path)
    assert b"Maria" not in raw and MARIA.encode() not in raw, "the plain copy is gone"
    assert (await _recall(path, NEW))["name"] == "Maria L."


async def test_rotation_moves_caller_memory_to_the_new_key(tmp_path: Path) -> None:
    path = tmp_path / "dialgraph.db"
    await _remember(path, OLD, name="Maria Lopez")
    assert (await _recall(path, f"{NEW},{OLD}"))["name"] == "Maria Lopez"
    report = await rotate(f"sqlite:///{path}", f"{NEW},{OLD}", var_dir=tmp_path)
    assert report.store_items == 2, "the caller, and the key check"
    assert (await _recall(path, NEW))["name"] == "Maria Lopez"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM store").fetchone() == (2,), "one copy of each"
    again = await rotate(f"sqlite:///{path}", f"{NEW},{OLD}", var_dir=tmp_path)
    assert again.store_items == 0


async def test_the_wrong_key_is_a_clear_error_at_start_up(tmp_path: Path) -> None:
    """Not mid-call, and never a returning caller taken for a new one."""
    path = tmp_path / "dialgraph.db"
    await _remember(path, OLD, name="Maria Lopez")
    with pytest.raises(WrongKeyError, match=CHECKPOINT_KEY_ENV):
        await _recall(path, NEW)
    assert (await _recall(path, f"{NEW},{OLD}"))["name"] == "Maria Lopez"


async def test_off_opens_the_plain_store(tmp_path: Path) -> None:
    async with open_store(
        f"sqlite:///{tmp_path}/d.db", var_dir=tmp_path, encryption_key="off"
    ) as s:
        assert isinstance(s, AsyncSqliteStore)
