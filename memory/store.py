"""Long-term caller memory: what the service remembers about a phone number.

Checkpoints hold one call; the store holds what outlives it, keyed by the
caller's number: their name, when they last called, and any other small
facts the graph chooses to keep. It lives in the same database as the
checkpoints (:mod:`memory.checkpointer` parses the URL the same way):
``AsyncSqliteStore`` on the SQLite file by default, ``AsyncPostgresStore``
when a Postgres URL is configured.

In a graph node (``Runtime[Context]`` gives the store and the caller)::

    memory = CallerMemory(runtime.store)
    profile = await memory.get(runtime.context.caller)  # None for a first call
    ...
    await memory.remember(runtime.context.caller, name="Maria Lopez")

and at hang-up a flow's ``PhoneSettings.on_call_end`` hook can record the visit::

    await CallerMemory(store).record_visit(facts.caller)

``langgraph.json`` can point ``langgraph dev`` at the same store::

    "store": {"path": "./memory/store.py:make_store"}

Numbers that are not E.164 (Twilio sends ``Anonymous`` or a SIP address for
withheld caller ID) are never stored: :meth:`CallerMemory.get` returns
``None`` and :meth:`CallerMemory.remember` writes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langgraph.store.base import BaseStore
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.sqlite.aio import AsyncSqliteStore

from memory.checkpointer import (
    POOL_MAX_SIZE,
    database_url_from_env,
    open_postgres_pool,
    open_sqlite,
    resolve_database,
)

__all__ = ["CALLERS_NAMESPACE", "PROFILE_KEY", "CallerMemory", "make_store", "open_store"]

logger = logging.getLogger(__name__)

CALLERS_NAMESPACE = "callers"
PROFILE_KEY = "profile"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@asynccontextmanager
async def open_store(
    url: str | None = None,
    *,
    var_dir: Path = Path("var"),
    pool_max_size: int = POOL_MAX_SIZE,
) -> AsyncIterator[BaseStore]:
    """Open the long-term store for ``url``, tables created.

    Args:
        url: ``None``/``""`` (SQLite ``var_dir/dialgraph.db``), ``sqlite:///...``
            or ``postgresql://...``, as for :func:`memory.checkpointer.open_checkpointer`.
        var_dir: Directory of the default SQLite file.
        pool_max_size: Postgres connections at most.

    Yields:
        A ready :class:`~langgraph.store.base.BaseStore`, closed on exit.
    """
    database = resolve_database(url, var_dir=var_dir)
    logger.info("store: %s", database.describe())
    if database.kind == "sqlite":
        # The SQLite store manages its own transactions: autocommit connection.
        async with open_sqlite(database.target, isolation_level=None) as conn:
            store = AsyncSqliteStore(conn)
            await store.setup()
            yield store
    else:
        async with open_postgres_pool(database.target, max_size=pool_max_size) as pool:
            store_pg = AsyncPostgresStore(conn=pool)
            await store_pg.setup()
            yield store_pg


@asynccontextmanager
async def make_store() -> AsyncIterator[BaseStore]:
    """The ``langgraph.json`` ``store.path`` factory (no arguments).

    Opens the database named by ``DIALGRAPH_DATABASE_URL`` (default
    ``var/dialgraph.db``).
    """
    async with open_store(database_url_from_env()) as store:
        yield store


class CallerMemory:
    """Facts about callers, one small document per phone number.

    Stored under namespace ``("callers", <E.164 number>)``, key ``"profile"``.
    The document always has ``name`` (``None`` until learned) and
    ``last_visit`` (ISO 8601 UTC, ``None`` until a call is recorded); other
    keys are whatever the graph remembered.
    """

    def __init__(self, store: BaseStore, *, clock: Callable[[], datetime] | None = None) -> None:
        """Wrap ``store``; ``clock`` returns the current UTC time (injectable for tests)."""
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))

    @staticmethod
    def is_storable(phone: str) -> bool:
        """Whether ``phone`` is an E.164 number (only those are remembered)."""
        return bool(_E164.match(phone or ""))

    async def get(self, phone: str) -> dict[str, Any] | None:
        """The caller's profile, or ``None`` for an unknown or withheld number."""
        if not self.is_storable(phone):
            return None
        item = await self._store.aget(_namespace(phone), PROFILE_KEY)
        if item is None:
            return None
        return {"name": None, "last_visit": None, **item.value}

    async def remember(self, phone: str, **facts: Any) -> dict[str, Any] | None:
        """Merge ``facts`` into the caller's profile; a ``None`` value forgets a fact.

        ``name`` and ``last_visit`` are kept in the document even when set to
        ``None``. Facts must be JSON-serialisable.

        Returns:
            The stored profile, or ``None`` when ``phone`` is not storable.
        """
        if not self.is_storable(phone):
            return None
        current = await self.get(phone) or {"name": None, "last_visit": None}
        for key, value in facts.items():
            if value is None and key not in {"name", "last_visit"}:
                current.pop(key, None)
            else:
                current[key] = value
        current["updated_at"] = self._clock().isoformat()
        # Profiles are looked up by number, never searched by meaning: no index.
        await self._store.aput(_namespace(phone), PROFILE_KEY, current, index=False)
        return current

    async def record_visit(self, phone: str, *, when: datetime | None = None) -> None:
        """Set ``last_visit`` (default: now); call it when a call ends."""
        await self.remember(phone, last_visit=(when or self._clock()).isoformat())

    async def forget(self, phone: str) -> None:
        """Delete everything remembered about ``phone`` (a caller's erasure request)."""
        if self.is_storable(phone):
            await self._store.adelete(_namespace(phone), PROFILE_KEY)


def _namespace(phone: str) -> tuple[str, str]:
    return (CALLERS_NAMESPACE, phone)
