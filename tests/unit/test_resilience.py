"""Database deadlines, the one safe retry and failing fast (memory.resilience), without a server."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from memory.resilience import (
    FAIL_FAST_S,
    DatabaseDeadline,
    ServerHealth,
    resilient_conninfo,
    within_deadline,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """A database call that fails ``failures`` times with ``error``, then answers."""

    def __init__(self, error: BaseException | None = None, failures: int = 1) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.error is not None and self.calls <= self.failures:
            raise self.error
        return "row"


async def test_an_idempotent_call_is_retried_once_after_a_dead_connection() -> None:
    call = Flaky(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert await within_deadline(call, what="checkpoint read", retry=True) == "row"
    assert call.calls == 2


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (psycopg.OperationalError("server closed the connection"), False),  # not idempotent
        (psycopg.errors.UniqueViolation("duplicate key"), True),  # a SQL error: same again
        (DatabaseDeadline("no answer"), True),  # unreachable: a retry only waits longer
    ],
)
async def test_no_retry_for_writes_sql_errors_or_deadlines(
    error: BaseException, retry: bool
) -> None:
    call = Flaky(error)
    with pytest.raises(type(error)):
        await within_deadline(call, what="booking", retry=retry)
    assert call.calls == 1


async def test_a_second_connection_failure_is_raised() -> None:
    call = Flaky(psycopg.OperationalError("connection refused"), failures=2)
    with pytest.raises(psycopg.OperationalError):
        await within_deadline(call, what="checkpoint read", retry=True)
    assert call.calls == 2


async def test_a_call_that_hangs_is_abandoned_at_the_deadline_and_the_server_fails_fast() -> None:
    clock = Clock()
    health = ServerHealth(clock)
    release = asyncio.Event()

    async def hangs() -> str:
        await release.wait()
        return "late"

    with pytest.raises(DatabaseDeadline):
        await within_deadline(hangs, what="checkpoint write", deadline_s=0.05, health=health)
    # The next call is not tried at all while the server is known to be down...
    never = Flaky()
    with pytest.raises(DatabaseDeadline, match="missed a deadline"):
        await within_deadline(never, what="checkpoint read", health=health)
    assert never.calls == 0
    # ...until the window has passed; then one call probes, and its answer ends it.
    clock.now += FAIL_FAST_S
    assert await within_deadline(never, what="checkpoint read", health=health) == "row"
    assert not health.failing_fast
    release.set()  # the abandoned call ends by itself, its result dropped
    await asyncio.sleep(0)


async def test_a_cancelled_caller_cancels_the_call() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(within_deadline(slow, what="checkpoint read"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 1)


def test_health_fails_fast_for_a_window_after_a_missed_deadline() -> None:
    clock = Clock()
    health = ServerHealth(clock)
    health.check("read")  # healthy: no error
    health.missed_deadline()
    with pytest.raises(DatabaseDeadline):
        health.check("read")
    clock.now += FAIL_FAST_S - 0.1
    assert health.failing_fast
    health.answered()
    assert not health.failing_fast


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            {"connect_timeout": "2", "keepalives": "1", "tcp_user_timeout": "5000"},
        ),
        (  # the URL's own values win
            "postgresql://db/x?connect_timeout=7&tcp_user_timeout=0",
            {"connect_timeout": "7", "tcp_user_timeout": "0", "keepalives_idle": "10"},
        ),
    ],
)
def test_conninfo_gets_keepalives_and_timeouts(url: str, expected: dict[str, str]) -> None:
    params = conninfo_to_dict(resilient_conninfo(url))
    assert {k: params[k] for k in expected} == expected
