"""The side-effect ledger in the service's database (SQLite or Postgres).

One row per committed side effect, keyed ``"{thread_id}:{tool_call_id}"``
(:mod:`graphs.runtime.effects`): a run that is repeated or resumed finds the
row and does not act twice, and a run cut by a barge-in is repaired with the
real result. The first write of a key wins (``INSERT ... ON CONFLICT DO
NOTHING``), so two workers racing on the same call record one outcome.

A tool's result can name the caller ("Booked for Ana Diaz at 3 pm"), so the
ledger is encrypted at rest with the checkpoints' keys (:mod:`memory.encryption`):
``content`` and ``artifact`` are sealed under the newest key, and any listed
key (or none, for rows written before encryption) opens them again.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
from langchain_core.messages import ToolMessage

from memory.checkpointer import open_sqlite, resolve_database
from memory.encryption import KeyRing, key_ring
from memory.resilience import no_deadline, resilient_pool, within_deadline

__all__ = [
    "EffectLedger",
    "EffectRecord",
    "InMemoryEffectLedger",
    "PostgresEffectLedger",
    "SqliteEffectLedger",
    "open_effect_ledger",
]


@dataclass(frozen=True, slots=True)
class EffectRecord:
    """What a side-effecting tool call produced (enough to answer it again)."""

    tool: str
    content: str
    artifact: Any = None
    status: str = "success"

    def message(self, tool_call_id: str) -> ToolMessage:
        """The tool's answer, as the graph first saw it."""
        return ToolMessage(
            self.content,
            tool_call_id=tool_call_id,
            name=self.tool,
            artifact=self.artifact,
            status=self.status,
        )


class EffectLedger(Protocol):
    """Where committed side effects are recorded, by idempotency key."""

    async def get(self, key: str) -> EffectRecord | None:
        """The record of ``key``, or ``None`` if that effect never committed."""
        ...

    async def put(self, key: str, record: EffectRecord) -> None:
        """Record ``key`` (a second put of the same key keeps the first)."""
        ...


class InMemoryEffectLedger:
    """A ledger in this process only (tests, Studio without a database)."""

    def __init__(self) -> None:
        self._records: dict[str, EffectRecord] = {}

    async def get(self, key: str) -> EffectRecord | None:
        return self._records.get(key)

    async def put(self, key: str, record: EffectRecord) -> None:
        self._records.setdefault(key, record)


_TABLE = """CREATE TABLE IF NOT EXISTS dialgraph_effects (
    idempotency_key TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    content TEXT NOT NULL,
    artifact TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
)"""
_INSERT = (
    "INSERT INTO dialgraph_effects VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_SELECT = "SELECT tool, content, artifact, status FROM dialgraph_effects WHERE idempotency_key = ?"


_SEALED = "sealed:"  # a sealed column's prefix; rows without it were written in plain text


def _seal(ring: KeyRing | None, text: str) -> str:
    if ring is None:
        return text
    return _SEALED + base64.b64encode(ring.encrypt(text.encode())).decode()


def _unseal(ring: KeyRing | None, text: str) -> str:
    if not text.startswith(_SEALED):
        return text  # plain: written with encryption off, or before it was on
    if ring is None:
        raise ValueError(
            "the side-effect ledger is encrypted but DIALGRAPH_CHECKPOINT_KEY is off: "
            "list the key that wrote it"
        )
    plaintext, _ = ring.decrypt(base64.b64decode(text[len(_SEALED) :]))
    return plaintext.decode()


def _row(key: str, record: EffectRecord, ring: KeyRing | None) -> tuple[str, ...]:
    return (
        key,
        record.tool,
        _seal(ring, record.content),
        _seal(ring, json.dumps(record.artifact, default=str)),
        record.status,
        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def _record(row: Iterable[Any] | None, ring: KeyRing | None) -> EffectRecord | None:
    if row is None:
        return None
    tool, content, artifact, status = row
    return EffectRecord(tool, _unseal(ring, content), json.loads(_unseal(ring, artifact)), status)


class SqliteEffectLedger:
    """The ledger in an SQLite file (a fresh connection per operation: any loop).

    ``ring`` seals each row's result (``None``: plain text).
    """

    def __init__(self, path: str, ring: KeyRing | None = None) -> None:
        self.path = path
        self._ring = ring

    def _connect(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        return open_sqlite(self.path, isolation_level=None)  # WAL, busy timeout, autocommit

    async def setup(self) -> None:
        async with self._connect() as conn:
            await conn.execute(_TABLE)

    async def get(self, key: str) -> EffectRecord | None:
        async with self._connect() as conn, conn.execute(_SELECT, (key,)) as cursor:
            return _record(await cursor.fetchone(), self._ring)

    async def put(self, key: str, record: EffectRecord) -> None:
        async with self._connect() as conn:
            await conn.execute(_INSERT, _row(key, record, self._ring))


class PostgresEffectLedger:
    """The ledger in Postgres, through a small health-checked psycopg pool.

    Both operations end within the database deadline and are tried once more
    after a connection failure (a restart): a lookup is a read, and a put
    keeps the first write of its key, so a repeat changes nothing. ``ring``
    seals each row's result (``None``: plain text).
    """

    def __init__(self, url: str, ring: KeyRing | None = None) -> None:
        self._ring = ring
        self._pool = resilient_pool(
            url, max_size=4, kwargs={"autocommit": True}, name="dialgraph-effects"
        )

    async def setup(self) -> None:
        await self._pool.open(wait=True)  # its workers keep the round-trip cap
        with no_deadline():
            async with self._pool.connection() as conn:
                await conn.execute(_TABLE)

    async def get(self, key: str) -> EffectRecord | None:
        return await within_deadline(
            functools.partial(self._get, key),
            what="side-effect lookup",
            retry=True,
            health=self._pool.health,
        )

    async def put(self, key: str, record: EffectRecord) -> None:
        await within_deadline(
            functools.partial(self._put, key, record),
            what="side-effect record",
            retry=True,
            health=self._pool.health,
        )

    async def _get(self, key: str) -> EffectRecord | None:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_SELECT.replace("?", "%s"), (key,))
            return _record(await cursor.fetchone(), self._ring)

    async def _put(self, key: str, record: EffectRecord) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(_INSERT.replace("?", "%s"), _row(key, record, self._ring))

    async def aclose(self) -> None:
        await self._pool.close()


@contextlib.asynccontextmanager
async def open_effect_ledger(
    database_url: str | None,
    *,
    var_dir: Path = Path("var"),
    encryption_key: str | None = None,
) -> AsyncIterator[EffectLedger]:
    """The ledger in the service's database (``None``: ``var_dir/dialgraph.db``).

    ``encryption_key`` is the ``DIALGRAPH_CHECKPOINT_KEY`` value, as for the
    checkpointer (``None``: the environment, then ``var_dir``'s key file;
    ``"off"``: plain text).
    """
    database = resolve_database(database_url, var_dir=var_dir)
    ring = key_ring(encryption_key, var_dir=var_dir)
    if database.kind == "postgres":
        ledger = PostgresEffectLedger(database.target, ring)
        await ledger.setup()
        try:
            yield ledger
        finally:
            await ledger.aclose()
        return
    sqlite = SqliteEffectLedger(database.target, ring)
    await sqlite.setup()
    yield sqlite
