"""Redis faults never end a call: the limits fall back to this process, then recover.

The real Redis sits behind a :class:`~tests.tcp_proxy.TcpProxy` the test can
reset (Redis restarted) or stall (packets dropped); calls go through the
real server (uvicorn, Litestar, the session) and the softphone. Skipped,
with the reason, only when Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aredis

from telephony.admission.limits import CALLER_CONCURRENT, CallLimits
from telephony.admission.limits_redis import REDIS_RETRY_S, UNAVAILABLE, RedisLimitStore
from telephony.admission.registry import CallRegistry
from telephony.call.services import CallServices
from telephony.softphone import parse_script, place_call
from tests.backends import REDIS_URL, delete_limit_keys, needs_redis
from tests.fakes import AgentFactoryFor, FakeSTT, FakeTTS, ScriptedAgent, test_tokens
from tests.integration.test_loopback_call import AUTH_TOKEN, serve, write_tone_wav
from tests.tcp_proxy import TcpProxy

pytestmark = needs_redis

CALLER = "+15557650101"
GONE = "Redis limits unavailable"
BACK = "Redis limits are back"
SCRIPT = """
[[step]]
wait_for_agent = true
quiet_ms = 400

[[step]]
play = "hello.wav"

[[step]]
wait_for_agent = true
quiet_ms = 400
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_proxy() -> AsyncIterator[tuple[TcpProxy, str, str]]:
    """``(proxy, url through it, prefix)``; the prefix's keys are deleted afterwards."""
    parts = urlsplit(REDIS_URL)
    prefix = f"dialgraph-test-{uuid.uuid4().hex}"
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}", prefix
    await delete_limit_keys(prefix)


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.name == "dialgraph.limits")


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("readuntil() called while another coroutine is already waiting"),
        ConnectionError("reset"),
        TimeoutError(),
        OSError(113, "No route to host"),
    ],
)
async def test_any_client_error_falls_back_to_in_process_limits(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisLimitStore(
        REDIS_URL, CallLimits(concurrent_per_caller=1), secret="s", prefix=uuid.uuid4().hex
    )

    async def fails(*args: object, **kwargs: object) -> None:
        raise error

    store._admit = fails  # type: ignore[method-assign]
    store._heartbeat = fails  # type: ignore[method-assign]
    store._redis.set = fails  # type: ignore[method-assign]
    store._redis.pipeline = fails  # type: ignore[assignment, method-assign]
    try:
        with caplog.at_level(logging.WARNING, "dialgraph.limits"):
            first = await store.admit("CA1", CALLER)
            assert await store.claim_stream("CA1")
            assert not await store.claim_stream("CA1")  # a replay to this worker: refused
            await store.heartbeat("CA1", CALLER)
            second = await store.admit("CA2", CALLER)  # the in-process limit holds
            await store.release("CA1", CALLER)
            third = await store.admit("CA3", CALLER)
    finally:
        await store.aclose()
    assert (first.allowed, first.reason) == (True, UNAVAILABLE)
    assert (second.allowed, second.reason) == (False, CALLER_CONCURRENT)
    assert third.allowed
    assert store.degraded
    assert warnings(caplog, GONE) == 1  # one warning, not one per call


async def test_blackholed_redis_answers_within_its_timeout(
    redis_proxy: tuple[TcpProxy, str, str],
) -> None:
    proxy, url, prefix = redis_proxy
    store = RedisLimitStore(url, CallLimits(), secret="s", prefix=prefix)
    try:
        assert (await store.admit("CA1", CALLER)).reason != UNAVAILABLE
        proxy.stall()
        # Without socket timeouts this waited for as long as the partition lasted.
        decision = await asyncio.wait_for(store.admit("CA2", CALLER), 10)
        assert await asyncio.wait_for(store.claim_stream("CA2"), 10)
    finally:
        await proxy.restore()
        await store.aclose()
    assert (decision.allowed, decision.reason) == (True, UNAVAILABLE)


async def test_calls_survive_a_redis_reset_and_limits_are_shared_again_when_it_is_back(
    redis_proxy: tuple[TcpProxy, str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url, prefix = redis_proxy
    clock = Clock()
    store = RedisLimitStore(url, CallLimits(), secret="s", prefix=prefix, clock=clock)
    factory = AgentFactoryFor(lambda: ScriptedAgent(greeting="Hello, this is the test line."))
    services = CallServices(
        agent_factory=factory,
        registry=CallRegistry(),
        tokens=test_tokens(),
        tts=FakeTTS(),
        stt=FakeSTT(["hello there"]),
        limit_store=store,
    )
    write_tone_wav(tmp_path / "hello.wav", 500)
    script = parse_script(SCRIPT, base_dir=tmp_path)

    async def call(caller: str) -> object:
        return await place_call(base, script, auth_token=AUTH_TOKEN, caller=caller)

    try:
        with caplog.at_level(logging.WARNING, "dialgraph.limits"):
            async with serve(services) as base:
                # Redis goes down while the first call is live (its release meets a reset).
                live = asyncio.create_task(call("+15557650111"))
                await asyncio.sleep(1.0)
                await proxy.reset()
                during = await live
                # The next call is admitted and claimed in this process.
                after = await call("+15557650112")
                await proxy.restore()
                clock.now += REDIS_RETRY_S  # Redis is asked again
                back = await call("+15557650113")
    finally:
        await store.aclose()
    for result in (during, after, back):
        assert result.outcome == "completed", result.summary()  # type: ignore[attr-defined]
        assert result.closed_by == "caller", result.summary()  # type: ignore[attr-defined]
        agent = factory.agents[result.call_sid]  # type: ignore[attr-defined]
        assert agent.inputs == [("start", ""), ("speech", "hello there")]
    assert warnings(caplog, GONE) == 1 and warnings(caplog, BACK) == 1
    assert not store.degraded
    client = aredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        claimed = await client.exists(f"{store.prefix}:s:{back.call_sid}")  # type: ignore[attr-defined]
    finally:
        await client.aclose()
    assert claimed == 1  # the call after recovery was claimed in Redis, for every worker
