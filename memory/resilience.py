"""Database calls that end in time: deadlines, health-checked pools, one safe retry.

A caller on the phone hears dead air while a graph run waits on its
database, so every database call must end, in success or in an error the
session turns into a spoken apology, within a fraction of the caller's
patience. Three faults need three different answers:

* **The server restarted** (every pooled connection is dead): the pool
  checks a connection before lending it (``check``) and reconnects, and an
  idempotent call that still met a dead connection is tried once more.
* **The server is unreachable without a reset** (packets dropped, a
  partition): nothing ever fails by itself. A server-side
  ``statement_timeout`` cannot help (the server never hears the query), so
  the deadline is on the client: :class:`DeadlineConnection` gives every
  round trip at most :data:`DB_DEADLINE_S` and then drops the connection,
  and :func:`within_deadline` bounds a whole call, retry included. TCP
  keepalives and ``tcp_user_timeout`` (:func:`resilient_conninfo`) make the
  kernel notice a dead peer on idle and busy sockets too; ``connect_timeout``
  and the pool's ``timeout`` bound connecting and waiting for a connection.
  Once a server has missed a deadline, calls to it fail at once for
  :data:`FAIL_FAST_S` (a :class:`ServerHealth` per server, shared by every
  pool): the rest of the turn, the next turn's reads and the after-turn
  writes do not each wait out the deadline again before the apology.
* **A local SQLite file is busy**: it cannot be unreachable; WAL and a busy
  timeout (:func:`memory.checkpointer.open_sqlite`) make writers queue
  instead of failing with "database is locked".

Why not ``asyncio.timeout`` around a psycopg call: cancelling a query in
flight makes psycopg send the server a cancel request and wait for the
answer, up to 5 s twice, before the cancellation returns; with the server
unreachable that is ten more seconds of dead air. The deadline is therefore
given to psycopg's own wait (it raises, and the connection is closed at
once), and :func:`within_deadline` abandons, rather than cancels, a call
that overruns: it finishes or fails on its own shortly after, every wait
being capped.

Only idempotent work is retried (reads, upserts keyed by a checkpoint id,
ledger rows that keep the first write). A booking is never retried here: it
goes through the side-effect ledger (:mod:`graphs.runtime.effects`), whose
key makes a repeat find the first outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DB_DEADLINE_S",
    "FAIL_FAST_S",
    "DatabaseDeadline",
    "DeadlineConnection",
    "ResilientPool",
    "ServerHealth",
    "no_deadline",
    "resilient_conninfo",
    "resilient_pool",
    "within_deadline",
]

logger = logging.getLogger("dialgraph.database")

T = TypeVar("T")

# The most one database call may take, retry included, before the turn gives
# up and the caller hears an apology: a turn's few checkpoint writes are
# milliseconds each on a healthy database, and the caller should hear
# something within ~2 s of the end of their turn.
DB_DEADLINE_S = 1.5
CONNECT_TIMEOUT_S = 2  # libpq's minimum (psycopg rounds anything lower up to 2)
# The pool's reconnect attempts back off (1 s, 2 s, ...) and give up after this;
# the next call then connects at once. Short, so a database back after an outage
# is used within about a second instead of after a long backoff.
RECONNECT_TIMEOUT_S = 3.0
# After a missed deadline, calls to that server fail at once for this long; then
# one call probes it again (and a success ends the failing fast at once).
FAIL_FAST_S = 3.0
# libpq conninfo defaults (a URL's own values win): notice a dead peer on an idle
# socket after ~10 + 3 * 3 s, and on a socket with unacknowledged data after 5 s.
_CONNINFO_DEFAULTS = {
    "connect_timeout": str(CONNECT_TIMEOUT_S),
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "3",
    "keepalives_count": "3",
    "tcp_user_timeout": "5000",  # milliseconds
}

# The per-round-trip cap; lifted (None) for schema set-up, whose migrations
# may build indexes for longer than any call should wait.
_round_trip_limit: ContextVar[float | None] = ContextVar(
    "dialgraph_db_round_trip_limit", default=DB_DEADLINE_S
)


class DatabaseDeadline(psycopg.OperationalError):
    """The database did not answer within the deadline (unreachable or stuck)."""


class ServerHealth:
    """Whether a database server recently missed a deadline (then: fail fast).

    One per server (host, port, database), shared by every pool and
    connection to it, so what the checkpointer learnt spares the store and
    the transcripts the same wait. Time is ``clock`` (monotonic seconds).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._down_until = 0.0

    @property
    def failing_fast(self) -> bool:
        """Whether calls should fail now without trying."""
        return self._clock() < self._down_until

    def missed_deadline(self) -> None:
        """The server did not answer in time: fail fast for :data:`FAIL_FAST_S`."""
        self._down_until = self._clock() + FAIL_FAST_S

    def answered(self) -> None:
        """The server answered: stop failing fast."""
        self._down_until = 0.0

    def check(self, what: str) -> None:
        """Raise :class:`DatabaseDeadline` while failing fast."""
        if self.failing_fast:
            raise DatabaseDeadline(f"{what}: the database missed a deadline just now")


_servers: dict[tuple[str, str, str], ServerHealth] = {}


def server_health(conninfo: str) -> ServerHealth:
    """The shared :class:`ServerHealth` of the server ``conninfo`` names."""
    params = conninfo_to_dict(conninfo)
    key = (str(params.get("host", "")), str(params.get("port", "")), str(params.get("dbname", "")))
    return _servers.setdefault(key, ServerHealth())


@contextlib.contextmanager
def no_deadline() -> Iterator[None]:
    """Lift the round-trip cap in this context (schema set-up and migrations)."""
    token = _round_trip_limit.set(None)
    try:
        yield
    finally:
        _round_trip_limit.reset(token)


class DeadlineConnection(AsyncConnection[Any]):
    """A psycopg async connection whose every round trip ends within the deadline.

    When the server does not answer in time the connection is closed at once
    (its state is unknown; the pool discards it on return) and
    :class:`DatabaseDeadline` is raised, instead of psycopg's cancel-and-wait.
    """

    # The signature is psycopg's (it passes ``timeout`` itself, e.g. for notifies).
    async def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        limit = _round_trip_limit.get()
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        started = time.monotonic()
        try:
            return await super().wait(gen, interval, timeout)
        except psycopg.OperationalError as exc:
            overran = timeout is not None and time.monotonic() - started >= timeout
            if not overran or self.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
                raise
            self.pgconn.finish()
            self._health().missed_deadline()
            raise DatabaseDeadline(f"no answer from the database within {timeout:.1f} s") from exc

    def _health(self) -> ServerHealth:
        health: ServerHealth | None = getattr(self, "_server_health", None)
        if health is None:
            info = self.info
            key = f"host={info.host} port={info.port} dbname={info.dbname}"
            health = self._server_health = server_health(key)
        return health


class ResilientPool(AsyncConnectionPool[Any]):
    """A pool that fails at once while its server is known to miss deadlines.

    Attributes:
        health: The server's shared :class:`ServerHealth`.
    """

    def __init__(self, conninfo: str, **kwargs: Any) -> None:
        super().__init__(conninfo, **kwargs)
        self.health = server_health(conninfo)

    async def getconn(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (psycopg's)
        self.health.check("database connection")
        return await super().getconn(timeout)


def resilient_conninfo(conninfo: str) -> str:
    """``conninfo`` with keepalives, ``tcp_user_timeout`` and ``connect_timeout`` added.

    Values the URL sets itself are kept.
    """
    present = conninfo_to_dict(conninfo)
    extra = {k: v for k, v in _CONNINFO_DEFAULTS.items() if k not in present}
    return make_conninfo(conninfo, **extra)


def resilient_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int,
    kwargs: dict[str, Any],
    name: str,
) -> ResilientPool:
    """An unopened psycopg pool that checks, bounds and replaces its connections.

    Every connection is a :class:`DeadlineConnection`, checked before it is
    lent (a restart leaves only dead ones), with keepalives and connect and
    user timeouts; waiting for a connection ends after :data:`DB_DEADLINE_S`.
    """
    return ResilientPool(
        resilient_conninfo(conninfo),
        connection_class=DeadlineConnection,
        min_size=min_size,
        max_size=max_size,
        kwargs=kwargs,
        open=False,
        name=name,
        check=AsyncConnectionPool.check_connection,
        timeout=DB_DEADLINE_S,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
    )


def _retryable(exc: BaseException) -> bool:
    """A dead or missing connection (worth one more try), not a deadline or a SQL error."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(exc, DatabaseDeadline)


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.debug("an abandoned database call ended with %s", type(exc).__name__)


async def within_deadline(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    retry: bool = False,
    deadline_s: float = DB_DEADLINE_S,
    health: ServerHealth | None = None,
) -> T:
    """Run ``call()`` and return its result within ``deadline_s``, or raise.

    Args:
        call: Makes the database call afresh (called again for the retry).
        what: What the call does, for the log ("checkpoint write").
        retry: The call is idempotent: after a connection failure (not a
            deadline, not a SQL error), try it once more if time is left.
        deadline_s: The whole budget, retry included.
        health: The server's health: fail at once while it fails fast, and
            mark it when this call misses its deadline.

    Raises:
        DatabaseDeadline: No result in time; the call is abandoned (it ends
            by itself soon, every round trip being capped), never cancelled
            into psycopg.
        psycopg.Error: What the call raised.
    """
    if health is not None:
        health.check(what)
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + deadline_s

    async def attempts() -> T:
        try:
            return await call()
        except Exception as exc:
            if not (retry and _retryable(exc)) or loop.time() >= ends_at:
                raise
            logger.warning("%s failed (%s); retrying once", what, type(exc).__name__)
        return await call()

    task = asyncio.ensure_future(attempts())
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
    except asyncio.CancelledError:
        task.cancel()  # the caller gave up (a barge-in): as before, the call goes too
        raise
    if task in done:
        result = task.result()
        if health is not None:
            health.answered()
        return result
    task.add_done_callback(_consume)
    if health is not None:
        health.missed_deadline()
    logger.warning("%s: no answer from the database within %.1f s", what, deadline_s)
    raise DatabaseDeadline(f"{what}: no answer from the database within {deadline_s:.1f} s")
