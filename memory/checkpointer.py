"""The checkpointer: one call's dialogue state, saved after every graph step.

One database URL picks the backend, for the live service and for
``langgraph dev`` alike:

* unset, or ``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db``:
  an :class:`~langgraph.checkpoint.sqlite.aio.AsyncSqliteSaver` on a file
  (default ``var/dialgraph.db``; the directory is created; WAL journal).
* ``postgresql://user@host:5432/db`` (also ``postgres://``): an
  :class:`~langgraph.checkpoint.postgres.aio.AsyncPostgresSaver` on a psycopg
  connection pool, so many concurrent calls share a few connections.

The URL comes from the ``DIALGRAPH_DATABASE_URL`` environment variable
(:data:`DATABASE_URL_ENV`) when the service does not pass one. The same
variable is read by :func:`make_checkpointer`, the zero-argument factory that
``langgraph.json`` names, so Studio opens the database the live calls write::

    "checkpointer": {"path": "./memory/checkpointer.py:make_checkpointer"}

Relative SQLite paths are relative to the working directory; run the service
and ``langgraph dev`` from the project root (or use an absolute path).

Checkpoints are encrypted at rest by default (:mod:`memory.encryption`):
``DIALGRAPH_CHECKPOINT_KEY`` lists the keys, newest first; unset, a key is
generated once into ``var/dialgraph.key``, which :func:`make_checkpointer`
finds too (the variable first, then the file under ``DIALGRAPH_VAR_DIR``), so
Studio reads what the calls wrote; ``off`` stores plain text.

Checkpoints pile up: each graph step of each turn saves one. Keep the state
small with :mod:`memory.window`, and call :func:`prune_checkpoints` between
turns (the runner's per-call lock held) to keep only the latest few per call.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from memory.encryption import CHECKPOINT_KEY_ENV, default_var_dir, key_ring
from memory.resilience import (
    DB_DEADLINE_S,
    ServerHealth,
    no_deadline,
    resilient_pool,
    within_deadline,
)

__all__ = [
    "CHECKPOINT_KEY_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_KEEP_CHECKPOINTS",
    "DEFAULT_SQLITE_NAME",
    "Database",
    "ResilientPostgresSaver",
    "SealedPostgresSaver",
    "checkpoint_serde",
    "database_url_from_env",
    "make_checkpointer",
    "open_checkpointer",
    "open_postgres_pool",
    "open_sqlite",
    "prune_checkpoints",
    "resolve_database",
]

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

DATABASE_URL_ENV = "DIALGRAPH_DATABASE_URL"
DEFAULT_SQLITE_NAME = "dialgraph.db"  # matches the contract's default db_url
# Three checkpoints per simple turn (input, start, reply): ~10 turns of
# time travel in Studio, and the runner's cancel repair needs only the latest.
DEFAULT_KEEP_CHECKPOINTS = 30
POOL_MAX_SIZE = 10  # connections per process; calls only hold one while saving
CONNECT_TIMEOUT_S = 10.0  # fail start-up clearly instead of on the first call
SQLITE_BUSY_TIMEOUT_MS = 5000  # calendar, store and checkpoints share one file

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # In WAL mode NORMAL only gives up the last commits on power loss (never
    # corruption) and skips an fsync per checkpoint: a large part of a turn.
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)


@dataclass(frozen=True, slots=True)
class Database:
    """Where the state lives, parsed from a database URL."""

    kind: Literal["sqlite", "postgres"]
    target: str
    """A file path (or ``:memory:``) for SQLite; a libpq conninfo URL for Postgres."""

    def describe(self) -> str:
        """A log-safe description (no password)."""
        if self.kind == "sqlite":
            return f"sqlite file {self.target}"
        parts = urlsplit(self.target)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"postgres {host}{port}{parts.path}"


def database_url_from_env() -> str | None:
    """The configured database URL (``DIALGRAPH_DATABASE_URL``), or ``None``."""
    return os.environ.get(DATABASE_URL_ENV, "").strip() or None


def resolve_database(url: str | None, *, var_dir: Path = Path("var")) -> Database:
    """Parse a database URL; ``None`` or ``""`` means the default SQLite file.

    Raises:
        ValueError: the URL has a scheme other than ``sqlite`` or ``postgres``.
    """
    if not url:
        return Database("sqlite", str(Path(var_dir) / DEFAULT_SQLITE_NAME))
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower().split("+", 1)[0]  # postgresql+psycopg:// is common
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise ValueError(f"expected sqlite:///relative.db or sqlite:////abs.db, got {url!r}")
        path = unquote(rest[1:].split("?", 1)[0])
        if not path:
            raise ValueError(f"the SQLite URL names no file: {url!r}")
        return Database("sqlite", path)
    if scheme in {"postgres", "postgresql"}:
        return Database("postgres", f"postgresql://{rest}")
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")


@asynccontextmanager
async def open_sqlite(
    path: str, *, isolation_level: str | None = "DEFERRED"
) -> AsyncIterator[aiosqlite.Connection]:
    """Open a SQLite file tuned for the service (WAL, busy timeout), creating its directory.

    Args:
        path: The file, or ``:memory:``.
        isolation_level: ``None`` for autocommit (what the store expects).
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path, isolation_level=isolation_level) as conn:
        for pragma in _SQLITE_PRAGMAS:
            await conn.execute(pragma)
        yield conn


@asynccontextmanager
async def open_postgres_pool(
    conninfo: str, *, max_size: int = POOL_MAX_SIZE
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """Open a psycopg pool configured as LangGraph's Postgres savers and stores need.

    Autocommit (their migrations create indexes concurrently), no server-side
    prepared statements (safe behind PgBouncer), dict rows; connections are
    health-checked and every round trip has a deadline
    (:func:`memory.resilience.resilient_pool`).
    """
    pool = resilient_pool(
        conninfo,
        max_size=max_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        name="dialgraph",
    )
    async with pool:
        await pool.wait(timeout=CONNECT_TIMEOUT_S)
        yield pool


class SealedPostgresSaver(AsyncPostgresSaver):
    """LangGraph's Postgres saver with every channel value in the (encrypted) blobs.

    The stock saver keeps string, number and boolean channel values inside
    the checkpoint row's JSON, where no serializer sees them: a flow's
    ``caller_name: str`` or ``zip_code: str`` would sit there in plain text
    with encryption on. Here they are written as blobs, through the
    encrypting serializer, like every other value. Rows the stock saver
    wrote still load; :func:`memory.rekey.rotate` moves their values. With encryption
    off it is the stock saver.
    """

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save ``checkpoint`` with its plain values boxed, so they become blobs."""
        values = checkpoint["channel_values"]
        if not isinstance(self.serde, EncryptedSerializer):  # off: keep them readable
            return await super().aput(config, checkpoint, metadata, new_versions)
        boxed = {
            k: _Inline(v)
            for k, v in values.items()
            if v is not None and isinstance(v, str | int | float | bool)
        }
        if boxed:
            versions = checkpoint["channel_versions"]
            checkpoint = {**checkpoint, "channel_values": {**values, **boxed}}
            # Unchanged values too: their previous version may have been
            # inline (a row of the stock saver), with no blob to load from.
            # An existing blob is kept (ON CONFLICT DO NOTHING).
            new_versions = {**{k: versions[k] for k in boxed if k in versions}, **new_versions}
        return await super().aput(config, checkpoint, metadata, new_versions)

    def _dump_blobs(
        self,
        thread_id: str,
        checkpoint_ns: str,
        values: dict[str, Any],
        versions: ChannelVersions,
    ) -> list[tuple[str, str, str, str, str, bytes | None]]:
        unboxed = {k: v.value if isinstance(v, _Inline) else v for k, v in values.items()}
        return super()._dump_blobs(thread_id, checkpoint_ns, unboxed, versions)


class _Inline:
    """A plain channel value in a box, so the Postgres saver does not inline it."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class ResilientPostgresSaver(SealedPostgresSaver):
    """The (sealed) Postgres saver with a deadline on every call and one retry.

    A turn's checkpoint reads and writes end within
    :data:`~memory.resilience.DB_DEADLINE_S` (an unreachable database costs
    the caller one apology, not dead air), and one that met a connection
    killed by a restart is tried again: each is idempotent (a put is an
    upsert keyed by its checkpoint id; writes by checkpoint, task and index).
    Still an :class:`AsyncPostgresSaver`, so pruning and Studio see no
    difference.
    """

    deadline_s: float = DB_DEADLINE_S

    @property
    def _health(self) -> ServerHealth | None:
        return getattr(self.conn, "health", None)  # a ResilientPool's

    async def setup(self) -> None:
        with no_deadline():  # migrations may build an index on a large table
            await super().setup()

    async def _bounded(self, call: Callable[[], Awaitable[_T]], what: str) -> _T:
        """``call`` within the deadline, tried once more after a dead connection
        (every method here is idempotent: reads, and upserts keyed by checkpoint id)."""
        return await within_deadline(
            call, what=what, retry=True, deadline_s=self.deadline_s, health=self._health
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._bounded(functools.partial(super().aget_tuple, config), "checkpoint read")

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        put = functools.partial(super().aput, config, checkpoint, metadata, new_versions)
        return await self._bounded(put, "checkpoint write")

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        put = functools.partial(super().aput_writes, config, writes, task_id, task_path)
        await self._bounded(put, "checkpoint write")


@asynccontextmanager
async def open_checkpointer(
    url: str | None = None,
    *,
    var_dir: Path = Path("var"),
    pool_max_size: int = POOL_MAX_SIZE,
    encryption_key: str | None = None,
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open the checkpointer for ``url`` (see the module docstring), tables created.

    Args:
        url: ``None``/``""`` (SQLite under ``var_dir``), ``sqlite:///...`` or
            ``postgresql://...``. The caller decides whether to fall back to
            :func:`database_url_from_env`.
        var_dir: Directory of the default SQLite file.
        pool_max_size: Postgres connections at most.
        encryption_key: The ``DIALGRAPH_CHECKPOINT_KEY`` value (keys, newest
            first; ``""`` the key file in ``var_dir``; ``off`` plain text);
            ``None`` reads the variable. See :func:`checkpoint_serde`.

    Yields:
        A ready :class:`~langgraph.checkpoint.base.BaseCheckpointSaver`, closed on exit.
    """
    database = resolve_database(url, var_dir=var_dir)
    serde = checkpoint_serde(encryption_key, var_dir=var_dir)
    logger.info("checkpointer: %s%s", database.describe(), " (encrypted at rest)" if serde else "")
    if database.kind == "sqlite":
        async with open_sqlite(database.target) as conn:
            saver = AsyncSqliteSaver(conn, serde=serde)
            await saver.setup()
            yield saver
    else:
        async with open_postgres_pool(database.target, max_size=pool_max_size) as pool:
            saver_pg = ResilientPostgresSaver(conn=pool, serde=serde)
            await saver_pg.setup()
            yield saver_pg


@asynccontextmanager
async def make_checkpointer() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The ``langgraph.json`` ``checkpointer.path`` factory (no arguments).

    Opens the database named by ``DIALGRAPH_DATABASE_URL`` (default
    ``var/dialgraph.db``) for as long as the LangGraph server runs, with the
    keys the service uses: ``DIALGRAPH_CHECKPOINT_KEY``, else the key file
    under ``DIALGRAPH_VAR_DIR`` (default ``var``).
    """
    async with open_checkpointer(database_url_from_env(), var_dir=default_var_dir()) as saver:
        yield saver


def checkpoint_serde(
    setting: str | None, *, var_dir: Path = Path("var")
) -> EncryptedSerializer | None:
    """The serializer that encrypts checkpoints, or ``None`` when encryption is ``off``.

    Trade-off: what a call said and booked is unreadable in the database
    without the key (a stolen disk or backup leaks nothing), at the cost of
    ~microseconds per checkpoint; but Studio and every worker need the same
    key, plain SQL inspection of checkpoints no longer works, and a lost key
    means lost conversation state (bookings live in the calendar, unaffected).
    Checkpoints written in plain text, or under any key still listed, load;
    :func:`memory.rekey.rotate` re-encrypts them under the newest key.

    Args:
        setting: The ``DIALGRAPH_CHECKPOINT_KEY`` value; ``None`` reads the
            variable; ``""`` uses (or generates) ``var_dir/dialgraph.key``.
        var_dir: Where the key file lives.
    """
    ring = key_ring(setting, var_dir=var_dir)
    return None if ring is None else ring.serializer()


async def prune_checkpoints(
    saver: BaseCheckpointSaver[Any], thread_id: str, *, keep: int = DEFAULT_KEEP_CHECKPOINTS
) -> int:
    """Delete all but the newest ``keep`` checkpoints of a thread, with their writes.

    Call it only while no run of this thread is in flight (the runner's
    per-call lock): a run saves its writes and blobs just before its
    checkpoint row, and pruning in between could drop them. The oldest kept
    checkpoint becomes the thread's root (its parent is cleared).

    Savers other than the SQLite and Postgres ones are left alone.

    Args:
        saver: The checkpointer the graph runs with.
        thread_id: The call's thread.
        keep: Checkpoints kept per namespace (at least 1).

    Returns:
        How many checkpoints were deleted.

    Raises:
        ValueError: ``keep`` is smaller than 1.
        NotImplementedError: the thread uses a ``DeltaChannel``, whose state
            is rebuilt from the very history pruning would delete.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    if isinstance(saver, AsyncSqliteSaver):
        return await _prune_sqlite(saver, str(thread_id), keep)
    if isinstance(saver, AsyncPostgresSaver):
        return await _prune_postgres(saver, str(thread_id), keep)
    logger.debug("prune_checkpoints: %s has no pruning, left alone", type(saver).__name__)
    return 0


# -- pruning ------------------------------------------------------------------------

_DELTA_MARK = "counters_since_delta_snapshot"

_SQLITE_DELTA_SQL = (
    "SELECT 1 FROM checkpoints WHERE thread_id = ? "
    f"AND json_extract(CAST(metadata AS TEXT), '$.{_DELTA_MARK}') IS NOT NULL LIMIT 1"
)
_SQLITE_PRUNE_SQL = """
DELETE FROM checkpoints
WHERE thread_id = ? AND (checkpoint_ns, checkpoint_id) IN (
    SELECT checkpoint_ns, checkpoint_id FROM (
        SELECT checkpoint_ns, checkpoint_id, ROW_NUMBER() OVER (
            PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC
        ) AS newest_first
        FROM checkpoints WHERE thread_id = ?
    ) WHERE newest_first > ?
)
RETURNING checkpoint_ns, checkpoint_id
"""
_SQLITE_PRUNE_WRITES_SQL = (
    "DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?"
)
_SQLITE_ORPHAN_SQL = (
    "UPDATE checkpoints SET parent_checkpoint_id = NULL "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND parent_checkpoint_id = ?"
)


async def _prune_sqlite(saver: AsyncSqliteSaver, thread_id: str, keep: int) -> int:
    await saver.setup()
    async with saver.lock:
        conn = saver.conn
        async with conn.execute(_SQLITE_DELTA_SQL, (thread_id,)) as cur:
            if await cur.fetchone():
                raise NotImplementedError(f"thread {thread_id!r} uses a DeltaChannel")
        try:
            async with conn.execute(_SQLITE_PRUNE_SQL, (thread_id, thread_id, keep)) as cur:
                deleted = [(ns, cid) for ns, cid in await cur.fetchall()]
            if deleted:
                params = [(thread_id, ns, cid) for ns, cid in deleted]
                await conn.executemany(_SQLITE_PRUNE_WRITES_SQL, params)
                await conn.executemany(_SQLITE_ORPHAN_SQL, params)
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
    return len(deleted)


_PG_DELTA_SQL = f"SELECT 1 FROM checkpoints WHERE thread_id = %s AND metadata ? '{_DELTA_MARK}'"
_PG_PRUNE_SQL = """
WITH ranked AS (
    SELECT checkpoint_ns, checkpoint_id, row_number() OVER (
        PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC
    ) AS newest_first
    FROM checkpoints WHERE thread_id = %(thread_id)s
)
DELETE FROM checkpoints c USING ranked r
WHERE c.thread_id = %(thread_id)s
    AND c.checkpoint_ns = r.checkpoint_ns
    AND c.checkpoint_id = r.checkpoint_id
    AND r.newest_first > %(keep)s
RETURNING c.checkpoint_ns, c.checkpoint_id
"""
_PG_PRUNE_WRITES_SQL = (
    "DELETE FROM checkpoint_writes "
    "WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = ANY(%s)"
)
_PG_ORPHAN_SQL = (
    "UPDATE checkpoints SET parent_checkpoint_id = NULL "
    "WHERE thread_id = %s AND checkpoint_ns = %s AND parent_checkpoint_id = ANY(%s)"
)
# A blob is one channel value at one version; keep those a kept checkpoint names.
_PG_PRUNE_BLOBS_SQL = """
DELETE FROM checkpoint_blobs b
WHERE b.thread_id = %(thread_id)s AND NOT EXISTS (
    SELECT 1 FROM checkpoints c
    WHERE c.thread_id = b.thread_id
        AND c.checkpoint_ns = b.checkpoint_ns
        AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version
)
"""


@asynccontextmanager
async def _pg_connection(saver: AsyncPostgresSaver) -> AsyncIterator[AsyncConnection[Any]]:
    if isinstance(saver.conn, AsyncConnectionPool):
        async with saver.conn.connection() as conn:
            yield conn
    else:
        # One connection shared with the saver: take its lock so no save lands
        # inside our transaction.
        async with saver.lock:
            yield saver.conn


async def _prune_postgres(saver: AsyncPostgresSaver, thread_id: str, keep: int) -> int:
    async with (
        _pg_connection(saver) as conn,
        conn.transaction(),
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(_PG_DELTA_SQL, (thread_id,))
        if await cur.fetchone():
            raise NotImplementedError(f"thread {thread_id!r} uses a DeltaChannel")
        await cur.execute(_PG_PRUNE_SQL, {"thread_id": thread_id, "keep": keep})
        by_ns: dict[str, list[str]] = {}
        for row in await cur.fetchall():
            by_ns.setdefault(row["checkpoint_ns"], []).append(row["checkpoint_id"])
        for ns, ids in by_ns.items():
            await cur.execute(_PG_PRUNE_WRITES_SQL, (thread_id, ns, ids))
            await cur.execute(_PG_ORPHAN_SQL, (thread_id, ns, ids))
        if by_ns:
            await cur.execute(_PG_PRUNE_BLOBS_SQL, {"thread_id": thread_id})
    return sum(len(ids) for ids in by_ns.values())
