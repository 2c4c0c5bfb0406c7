"""Call transcripts in Postgres: one row per entry, wherever the call ran.

With several workers on one database (``DIALGRAPH_DATABASE_URL=postgresql://...``)
the transcripts live next to the checkpoints instead of on each worker's
disk. :func:`memory.transcripts.open_transcripts` picks this backend for a
Postgres URL; the entries are the same as the JSON-lines file's, already
redacted::

    call_transcripts(call_sid, seq, ts timestamptz, role, text,
                     message_id, name, tool_calls jsonb, meta jsonb)
    PRIMARY KEY (call_sid, seq), UNIQUE (call_sid, message_id) where an id is set

How an append reaches the table, without ever holding up the call:

1. :meth:`PostgresTranscript.aappend_messages` redacts the new messages in a
   worker thread (before they are queued, so nothing unredacted is ever
   sent), numbers them and queues them in memory. It returns without
   waiting for the database (a crashed worker loses what is still queued).
2. One background task per call writes the queue in order, one transaction
   per batch, ``ON CONFLICT DO NOTHING``: a batch retried after a commit
   whose reply was lost writes nothing twice. A revision (a reply cut by
   barge-in after it was queued) is an ``UPDATE`` of its row, after the
   batch's inserts, so it lands whether or not the row was stored yet.
3. A database error (or no answer within :data:`DB_TIMEOUT_S`) is logged
   once per outage, with the CallSid, the number of entries and the
   exception's type only (never the text, nor the driver's message, which
   can quote row values). The entries stay queued and go with the next
   turn's write. After the call ends, the queue is retried a few times
   (:data:`CLOSE_RETRY_DELAYS_S`); what cannot be stored then, or by the end
   of the process (:data:`SHUTDOWN_GRACE_S`), is logged as lost (a count).

One worker owns a live call (as with the files): numbering continues after
what is stored when a transcript is opened, so a second writer on the same
call at the same time would lose its colliding rows.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from langchain_core.messages import BaseMessage
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from memory.checkpointer import CONNECT_TIMEOUT_S, open_postgres_pool
from memory.transcripts_base import Redactor, TranscriptEntry, TranscriptRecorder, identity

__all__ = [
    "CLOSE_RETRY_DELAYS_S",
    "DB_TIMEOUT_S",
    "TABLE",
    "PostgresTranscript",
    "PostgresTranscripts",
    "create_transcript_table",
    "load_postgres_transcript",
    "open_postgres_transcripts",
]

logger = logging.getLogger(__name__)

TABLE = "call_transcripts"
POOL_MAX_SIZE = 4  # connections per process: a write is one short transaction per turn
DB_TIMEOUT_S = 5.0  # one database round (connection + statement) at most
CLOSE_RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # after the call ends, retries of what is still queued
SHUTDOWN_GRACE_S = 5.0  # how long closing the backend waits for queued writes
_LOCK_NAMESPACE = "dialgraph.transcripts:"  # + current_schema(): serialises table creation

_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        call_sid TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        message_id TEXT,
        name TEXT,
        tool_calls JSONB,
        meta JSONB,
        PRIMARY KEY (call_sid, seq)
    )""",
    f"""CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_one_row_per_message
        ON {TABLE} (call_sid, message_id) WHERE message_id IS NOT NULL""",
    # For retention (delete by age) and "today's calls" queries.
    f"CREATE INDEX IF NOT EXISTS {TABLE}_by_ts ON {TABLE} (ts)",
)
_INSERT = f"""INSERT INTO {TABLE}
    (call_sid, seq, ts, role, text, message_id, name, tool_calls, meta)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT DO NOTHING"""
_SELECT = f"""SELECT seq, ts, role, text, message_id, name, tool_calls, meta
    FROM {TABLE} WHERE call_sid = %s ORDER BY seq"""
_REVISE = f"""UPDATE {TABLE} SET ts = %s, role = %s, text = %s, name = %s,
    tool_calls = %s, meta = %s
    WHERE call_sid = %s AND seq = %s AND message_id IS NOT DISTINCT FROM %s"""
_STORED = f"""SELECT coalesce(max(seq), 0) AS seq,
    coalesce(array_agg(message_id ORDER BY seq) FILTER (WHERE message_id IS NOT NULL), '{{}}')
        AS ids,
    coalesce(array_agg(seq ORDER BY seq) FILTER (WHERE message_id IS NOT NULL), '{{}}') AS seqs
    FROM {TABLE} WHERE call_sid = %s"""


async def create_transcript_table(pool: AsyncConnectionPool[Any]) -> None:
    """Create the table and its indexes if missing (safe from many workers at once)."""
    async with pool.connection() as conn, conn.transaction():
        # Concurrent CREATE ... IF NOT EXISTS can still collide: one at a time.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s || current_schema()))", (_LOCK_NAMESPACE,)
        )
        for statement in _SCHEMA:
            await conn.execute(statement)


async def load_postgres_transcript(conninfo: str, call_sid: str) -> list[TranscriptEntry]:
    """Read the transcript of ``call_sid`` on one short-lived connection (empty if none)."""
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT_S), row_factory=dict_row
    ) as conn:
        try:
            return await _select(conn, call_sid)
        except psycopg.errors.UndefinedTable:  # no call was ever stored here
            return []


class PostgresTranscript(TranscriptRecorder):
    """One call's transcript as rows of :data:`TABLE` (see the module docstring).

    Open it with :meth:`PostgresTranscripts.open`. Appends are serialised by
    the turn runner; all queue handling happens on the event loop.
    """

    def __init__(
        self,
        call_sid: str,
        backend: PostgresTranscripts,
        *,
        redact: Redactor = identity,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """A transcript of ``call_sid`` that writes through ``backend``'s pool."""
        super().__init__(redact=redact, clock=clock)
        self.call_sid = call_sid
        self._backend = backend
        self._queued: list[tuple[TranscriptEntry, bool]] = []  # (entry, is a revision)
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self.lost = 0  # entries given up on (the database stayed away after the call)

    @property
    def unsaved(self) -> int:
        """Entries appended but not yet known to be in the database."""
        return len(self._queued)

    async def aappend_messages(self, messages: Iterable[BaseMessage]) -> list[TranscriptEntry]:
        """Queue the messages not appended yet (redacted, numbered) and start writing them.

        A message appended before whose content changed since (a reply cut by
        barge-in) is queued as a revision of its row. Redaction runs in a
        worker thread; the database is not waited for (:meth:`flush` does).
        Returns the queued entries, revisions first.
        """
        entries, revised = await asyncio.to_thread(self._new_entries, list(messages))
        with self._lock:
            queued = self._number(entries)
        self._queued.extend((entry, True) for entry in revised)
        self._queued.extend((entry, False) for entry in queued)
        self._start_writer()
        return [*revised, *queued]

    async def flush(self) -> bool:
        """Wait until what is queued has been tried; ``True`` if every entry is stored."""
        self._start_writer()
        if self._writer is not None:
            await asyncio.shield(self._writer)
        return not self._queued and not self.lost

    async def aentries(self) -> list[TranscriptEntry]:
        """What the database holds for this call, oldest first (queued entries not included)."""
        return await self._backend.load(self.call_sid)

    async def aclose(self) -> None:
        """End of call: what is still queued is written (and retried) in the background."""
        self._closed = True
        self._start_writer()

    # -- internals -------------------------------------------------------------------

    def _start_writer(self) -> None:
        if self._queued and (self._writer is None or self._writer.done()):
            self._writer = self._backend.spawn(self._write_queue())

    async def _write_queue(self) -> None:
        retries = list(self._backend.retry_delays)
        while self._queued:
            batch = list(self._queued)
            try:
                await self._backend.write(
                    self.call_sid,
                    [entry for entry, revision in batch if not revision],
                    revisions=[entry for entry, revision in batch if revision],
                )
            except Exception as exc:  # the database must never reach the call
                self._report(exc, len(batch))
                if not self._closed:
                    return  # the next append (or the end of the call) tries again
                if not retries:
                    logger.error(
                        "transcript %s: %d entries lost (database unreachable after the call)",
                        self.call_sid,
                        len(self._queued),
                    )
                    self.lost += len(self._queued)
                    self._queued.clear()
                    return
                await asyncio.sleep(retries.pop(0))
                continue
            del self._queued[: len(batch)]  # appends only ever add at the end
            if self._failing:
                self._failing = False
                logger.info("transcript %s: stored again", self.call_sid)

    def _report(self, exc: Exception, count: int) -> None:
        # The type only: a driver message can quote the row (the caller's words).
        if self._failing:
            logger.debug("transcript %s: still not stored (%s)", self.call_sid, type(exc).__name__)
            return
        self._failing = True
        logger.warning(
            "transcript %s: %d entries not stored yet (%s); kept and retried",
            self.call_sid,
            count,
            type(exc).__name__,
        )


class PostgresTranscripts:
    """:class:`~memory.transcripts.Transcripts` on a psycopg pool (one per process).

    Open with :func:`open_postgres_transcripts`, which creates the table and
    drains queued writes on exit.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        redact: Redactor = identity,
        clock: Callable[[], datetime] | None = None,
        db_timeout: float = DB_TIMEOUT_S,
        retry_delays: Sequence[float] = CLOSE_RETRY_DELAYS_S,
    ) -> None:
        """Args: see :func:`open_postgres_transcripts`."""
        self._pool = pool
        self._redact = redact
        self._clock = clock
        self.db_timeout = db_timeout
        self.retry_delays = tuple(retry_delays)
        self._tasks: set[asyncio.Task[None]] = set()
        self._transcripts: weakref.WeakSet[PostgresTranscript] = weakref.WeakSet()

    async def open(self, call_sid: str) -> PostgresTranscript:
        """The transcript of ``call_sid``, numbered after what is already stored.

        If the database cannot say what is stored, numbering starts at 1 (the
        failure is logged; a new call has no rows anyway).
        """
        transcript = PostgresTranscript(call_sid, self, redact=self._redact, clock=self._clock)
        try:
            async with self._connection() as conn:
                cursor = await conn.execute(_STORED, (call_sid,))
                row = await cursor.fetchone()
        except Exception as exc:
            logger.warning(
                "transcript %s: could not read what is stored (%s); numbering from 1",
                call_sid,
                type(exc).__name__,
            )
        else:
            assert row is not None  # an aggregate always returns one row
            transcript._resume(row["seq"], zip(row["ids"], row["seqs"], strict=True))
        self._transcripts.add(transcript)
        return transcript

    async def load(self, call_sid: str) -> list[TranscriptEntry]:
        """Everything stored for ``call_sid``, oldest first."""
        async with self._connection() as conn:
            return await _select(conn, call_sid)

    async def write(
        self,
        call_sid: str,
        entries: Sequence[TranscriptEntry],
        *,
        revisions: Sequence[TranscriptEntry] = (),
    ) -> None:
        """Insert ``entries``, then apply ``revisions``, in one transaction.

        Rows already there are left as they are; a revision replaces the row
        of its ``seq`` (and message id).
        """
        rows = [_row(call_sid, entry) for entry in entries]
        revised = [_revision(call_sid, entry) for entry in revisions]
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if rows:
                await cursor.executemany(_INSERT, rows)
            if revised:
                await cursor.executemany(_REVISE, revised)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a transcript's background write; :meth:`aclose` waits for it."""
        task = asyncio.create_task(work, name="transcript-write")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Give queued writes :data:`SHUTDOWN_GRACE_S` to finish; log what is lost."""
        for transcript in list(self._transcripts):
            await transcript.aclose()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for transcript in list(self._transcripts):
            if transcript.unsaved:
                logger.error(
                    "transcript %s: %d entries lost at shutdown (database unreachable)",
                    transcript.call_sid,
                    transcript.unsaved,
                )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        # Both bounds: the pool's wait for a connection, and a server that stops answering.
        async with (
            asyncio.timeout(self.db_timeout),
            self._pool.connection(timeout=self.db_timeout) as conn,
        ):
            yield conn


@asynccontextmanager
async def open_postgres_transcripts(
    conninfo: str,
    *,
    redact: Redactor = identity,
    clock: Callable[[], datetime] | None = None,
    pool_max_size: int = POOL_MAX_SIZE,
    db_timeout: float = DB_TIMEOUT_S,
    retry_delays: Sequence[float] = CLOSE_RETRY_DELAYS_S,
) -> AsyncIterator[PostgresTranscripts]:
    """Open a pool on ``conninfo``, create the table, yield the backend; drain on exit.

    Args:
        conninfo: A libpq URL; the table goes in its ``current_schema()``.
        redact: Applied to every text before it is queued.
        clock: Returns the current time (UTC); injectable for tests.
        pool_max_size: Connections at most.
        db_timeout: Seconds one database round may take before it counts as failed.
        retry_delays: Pauses between the retries of a call's queue after it ended.
    """
    async with open_postgres_pool(conninfo, max_size=pool_max_size) as pool:
        await create_transcript_table(pool)
        backend = PostgresTranscripts(
            pool, redact=redact, clock=clock, db_timeout=db_timeout, retry_delays=retry_delays
        )
        try:
            yield backend
        finally:
            await backend.aclose()


async def _select(conn: psycopg.AsyncConnection[Any], call_sid: str) -> list[TranscriptEntry]:
    cursor = await conn.execute(_SELECT, (call_sid,))
    return [_entry(row) for row in await cursor.fetchall()]


def _row(call_sid: str, entry: TranscriptEntry) -> tuple[Any, ...]:
    return (
        call_sid,
        entry.seq,
        datetime.fromisoformat(entry.ts),
        entry.role,
        entry.text,
        entry.message_id,
        entry.name,
        Jsonb(list(entry.tool_calls)) if entry.tool_calls else None,
        Jsonb(entry.meta) if entry.meta else None,
    )


def _revision(call_sid: str, entry: TranscriptEntry) -> tuple[Any, ...]:
    _, seq, ts, role, text, message_id, name, tool_calls, meta = _row(call_sid, entry)
    return (ts, role, text, name, tool_calls, meta, call_sid, seq, message_id)


def _entry(row: dict[str, Any]) -> TranscriptEntry:
    return TranscriptEntry(
        seq=row["seq"],
        ts=row["ts"].astimezone(UTC).isoformat(),
        role=row["role"],
        text=row["text"],
        message_id=row["message_id"],
        name=row["name"],
        tool_calls=tuple(row["tool_calls"] or ()),
        meta=dict(row["meta"] or {}),
    )
