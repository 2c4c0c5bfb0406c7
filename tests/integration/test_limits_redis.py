"""Admission limits against the real Redis, including two processes sharing it.

Uses ``DIALGRAPH_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). Every
test writes under a fresh key prefix and deletes its keys afterwards. Skipped,
with the reason, only when the server cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aredis

from telephony.admission.factory import make_limit_store
from telephony.admission.limits import CALLER_CONCURRENT, CALLER_HOURLY, OK, CallLimits
from telephony.admission.limits_redis import UNAVAILABLE, RedisLimitStore, caller_key
from tests.backends import REDIS_URL, delete_limit_keys, needs_redis
from tests.unit.telephony.admission.test_limits import ALICE, SCENARIOS, T0

URL = REDIS_URL
SECRET = "test-secret"
ROOT = Path(__file__).resolve().parents[2]


pytestmark = needs_redis


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A fresh deployment prefix; its keys are deleted after the test."""
    name = f"dialgraph-test-{uuid.uuid4().hex}"
    yield name
    await delete_limit_keys(name, f"{name}:go")  # and the two-process test's start signal


@pytest.fixture
async def open_store(prefix: str) -> AsyncIterator[Callable[[CallLimits], RedisLimitStore]]:
    stores: list[RedisLimitStore] = []

    def opener(limits: CallLimits) -> RedisLimitStore:
        store = RedisLimitStore(URL, limits, secret=SECRET, prefix=prefix)
        stores.append(store)
        return store

    yield opener
    for store in stores:
        await store.aclose()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_redis_store_scenarios(
    name: str, open_store: Callable[[CallLimits], RedisLimitStore]
) -> None:
    """The same behaviour table the in-process store passes."""
    limits, steps = SCENARIOS[name]
    store = open_store(limits)
    for op, sid, caller, at, expected in steps:
        now = T0 + at
        if op == "admit":
            decision = await store.admit(sid, caller, now=now)
            assert (decision.reason, decision.allowed) == (expected, expected == OK), (
                name,
                sid,
                at,
            )
        elif op == "release":
            await store.release(sid, caller)
        else:
            await store.heartbeat(sid, caller, now=now)


async def test_hourly_refusal_says_when_to_retry(
    open_store: Callable[[CallLimits], RedisLimitStore],
) -> None:
    store = open_store(CallLimits(calls_per_hour_per_caller=1))
    assert (await store.admit("CA1", ALICE, now=T0)).allowed
    await store.release("CA1", ALICE)
    decision = await store.admit("CA2", ALICE, now=T0 + 600)
    assert (decision.allowed, decision.reason) == (False, CALLER_HOURLY)
    assert decision.retry_after_s == pytest.approx(3000)


async def test_server_clock_and_no_raw_numbers_in_keys(
    prefix: str, open_store: Callable[[CallLimits], RedisLimitStore]
) -> None:
    store = open_store(CallLimits(concurrent_per_caller=1))
    assert (await store.admit("CA1", ALICE)).allowed
    assert (await store.admit("CA2", ALICE)).reason == CALLER_CONCURRENT
    assert await store.live_calls() == 1
    client = aredis.Redis.from_url(URL, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}:limits}}*")]
        ttls = [await client.ttl(k) for k in keys]
    finally:
        await client.aclose()
    assert len(keys) == 3
    assert not any(ALICE in k or ALICE.lstrip("+") in k for k in keys)
    assert sum(caller_key(SECRET.encode(), ALICE) in k for k in keys) == 2
    assert all(ttl > 0 for ttl in ttls)
    await store.release("CA1", ALICE)
    assert await store.live_calls() == 0


async def test_factory_picks_redis_and_unreachable_redis_lets_calls_through() -> None:
    store = make_limit_store(CallLimits(), redis_url=URL, secret=SECRET, prefix="x")
    assert isinstance(store, RedisLimitStore)
    await store.aclose()
    with pytest.raises(ValueError, match="secret"):
        RedisLimitStore(URL, CallLimits(), secret="")
    dead = RedisLimitStore("redis://127.0.0.1:1/0", CallLimits(), secret=SECRET)
    try:
        decision = await dead.admit("CA1", ALICE)
        await dead.release("CA1", ALICE)  # logged, not raised
    finally:
        await dead.aclose()
    assert (decision.allowed, decision.reason) == (True, UNAVAILABLE)


# One "server process": connect, say ready, wait for the go signal (so both
# processes race), admit N calls for one caller at once, print the decisions.
_WORKER = """
import asyncio, json, sys
import redis.asyncio as aredis
from telephony.admission.limits import CallLimits
from telephony.admission.limits_redis import RedisLimitStore

url, prefix, worker, n, per_hour, per_caller = sys.argv[1:7]
async def main():
    limits = CallLimits(calls_per_hour_per_caller=int(per_hour),
                        concurrent_per_caller=int(per_caller), concurrent_total=0)
    store = RedisLimitStore(url, limits, secret="test-secret", prefix=prefix)
    await store.live_calls()  # connected
    control = aredis.Redis.from_url(url)
    print("ready", flush=True)
    await control.blpop([prefix + ":go"], timeout=20)
    decisions = await asyncio.gather(*(
        store.admit(f"CA{worker}x{i}", "+15557770000") for i in range(int(n))))
    print(json.dumps([{"allowed": d.allowed, "reason": d.reason} for d in decisions]))
    await control.aclose()
    await store.aclose()
asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("per_hour", "per_caller", "limit", "refusal"),
    [(5, 0, 5, CALLER_HOURLY), (0, 3, 3, CALLER_CONCURRENT)],
)
async def test_two_server_processes_sharing_redis_enforce_one_limit(
    prefix: str, per_hour: int, per_caller: int, limit: int, refusal: str
) -> None:
    calls_each = 12
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            URL,
            prefix,
            str(worker),
            str(calls_each),
            str(per_hour),
            str(per_caller),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for worker in (1, 2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line.strip() == b"ready", (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        control = aredis.Redis.from_url(URL)
        await control.rpush(f"{prefix}:go", "go", "go")
        results = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 30)
        await control.delete(f"{prefix}:go")
        await control.aclose()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    decisions = []
    for (out, err), proc in zip(results, procs, strict=True):
        assert proc.returncode == 0, err.decode()
        decisions += json.loads(out.decode().strip().splitlines()[-1])
    allowed = [d for d in decisions if d["allowed"]]
    assert len(decisions) == 2 * calls_each
    assert len(allowed) == limit
    assert {d["reason"] for d in decisions if not d["allowed"]} == {refusal}


async def test_a_stream_is_claimed_once_across_stores(
    open_store: Callable[[CallLimits], RedisLimitStore],
) -> None:
    """Two workers' stores: only the first claim of a CallSid's stream wins."""
    first, second = open_store(CallLimits()), open_store(CallLimits())
    results = await asyncio.gather(*(s.claim_stream("CA1") for s in (first, second) * 3))
    assert sorted(results) == [False] * 5 + [True]
    assert await second.claim_stream("CA2")
    dead = RedisLimitStore("redis://127.0.0.1:1/0", CallLimits(), secret=SECRET)
    try:
        assert await dead.claim_stream("CA1")  # unreachable: granted, logged
    finally:
        await dead.aclose()
