"""Admission limits in process, the per-call budget, and the polite refusals."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from telephony.admission.factory import make_limit_store
from telephony.admission.limits import (
    BUSY_MESSAGES,
    CALLER_CONCURRENT,
    CALLER_HOURLY,
    LIMIT_GOODBYE,
    MAX_CALL_SECONDS,
    MAX_LLM_TOKENS,
    MAX_TURNS,
    OK,
    TOTAL_CONCURRENT,
    CallBudget,
    CallLimits,
    MemoryLimitStore,
    busy_twiml,
    estimate_tokens,
)

T0 = 1_700_000_000.0
ALICE, BOB = "+15550000001", "+15550000002"


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# Each step: (op, call_sid, caller, seconds after T0, expected reason or None for release).
SCENARIOS = {
    "withheld numbers share one bucket": (
        CallLimits(calls_per_hour_per_caller=0, concurrent_per_caller=1, concurrent_total=0),
        [
            ("admit", "CA1", "anonymous", 0, OK),
            ("admit", "CA2", "+266696687", 1, CALLER_CONCURRENT),  # "ANONYMOUS" on a keypad
            ("admit", "CA3", "", 1, CALLER_CONCURRENT),
            ("admit", "CA4", "Restricted", 1, CALLER_CONCURRENT),
            ("admit", "CA5", ALICE, 1, OK),  # a number is its own caller
            ("release", "CA1", "Anonymous", 2, None),
            ("admit", "CA6", "+7378742833", 3, OK),
        ],
    ),
    "hourly window slides": (
        CallLimits(calls_per_hour_per_caller=2, concurrent_per_caller=0, concurrent_total=0),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("release", "CA1", ALICE, 1, None),
            ("admit", "CA2", ALICE, 10, OK),
            ("release", "CA2", ALICE, 11, None),
            ("admit", "CA3", ALICE, 20, CALLER_HOURLY),  # released calls still count
            ("admit", "CA4", BOB, 20, OK),  # other callers unaffected
            ("admit", "CA5", ALICE, 3600, OK),  # CA1 left the window
            ("admit", "CA6", ALICE, 3605, CALLER_HOURLY),
        ],
    ),
    "concurrent per caller": (
        CallLimits(calls_per_hour_per_caller=0, concurrent_per_caller=2, concurrent_total=0),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("admit", "CA2", ALICE, 1, OK),
            ("admit", "CA3", ALICE, 2, CALLER_CONCURRENT),
            ("admit", "CA4", BOB, 2, OK),
            ("release", "CA1", ALICE, 3, None),
            ("admit", "CA5", ALICE, 4, OK),
        ],
    ),
    "global concurrent": (
        CallLimits(calls_per_hour_per_caller=0, concurrent_per_caller=0, concurrent_total=2),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("admit", "CA2", BOB, 0, OK),
            ("admit", "CA3", "+15550000003", 0, TOTAL_CONCURRENT),
            ("release", "CA2", BOB, 1, None),
            ("admit", "CA4", "+15550000003", 2, OK),
        ],
    ),
    "webhook retry is the same call": (
        CallLimits(calls_per_hour_per_caller=1, concurrent_per_caller=1, concurrent_total=1),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("admit", "CA1", ALICE, 5, OK),
            ("admit", "CA2", BOB, 6, TOTAL_CONCURRENT),
        ],
    ),
    "a crashed worker's calls expire": (
        CallLimits(concurrent_per_caller=1, concurrent_total=0, max_call_seconds=60),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("admit", "CA2", ALICE, 100, CALLER_CONCURRENT),  # lease is 60 + 120 s
            ("admit", "CA3", ALICE, 181, OK),
        ],
    ),
    "heartbeat keeps a long call live": (
        CallLimits(concurrent_per_caller=1, concurrent_total=0, max_call_seconds=60),
        [
            ("admit", "CA1", ALICE, 0, OK),
            ("heartbeat", "CA1", ALICE, 150, None),
            ("admit", "CA2", ALICE, 250, CALLER_CONCURRENT),
            ("admit", "CA3", ALICE, 331, OK),
        ],
    ),
    "release is idempotent": (
        CallLimits(concurrent_per_caller=1),
        [
            ("release", "CA9", ALICE, 0, None),
            ("admit", "CA1", ALICE, 0, OK),
            ("release", "CA1", ALICE, 1, None),
            ("release", "CA1", ALICE, 2, None),
            ("admit", "CA2", ALICE, 3, OK),
            ("admit", "CA3", ALICE, 4, CALLER_CONCURRENT),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_memory_store_scenarios(name: str) -> None:
    limits, steps = SCENARIOS[name]
    clock = FakeClock()
    store = MemoryLimitStore(limits, clock=clock)
    for op, sid, caller, at, expected in steps:
        clock.now = T0 + at
        if op == "admit":
            decision = await store.admit(sid, caller)
            assert (decision.reason, decision.allowed) == (expected, expected == OK), (
                name,
                sid,
                at,
            )
        elif op == "release":
            await store.release(sid, caller)
        else:
            await store.heartbeat(sid, caller)
    await store.aclose()


async def test_hourly_refusal_says_when_to_retry() -> None:
    store = MemoryLimitStore(CallLimits(calls_per_hour_per_caller=1))
    assert (await store.admit("CA1", ALICE, now=T0)).allowed
    await store.release("CA1", ALICE)
    decision = await store.admit("CA2", ALICE, now=T0 + 600)
    assert decision.reason == CALLER_HOURLY
    assert decision.retry_after_s == pytest.approx(3000)


async def test_refused_calls_do_not_use_up_the_hour() -> None:
    store = MemoryLimitStore(CallLimits(calls_per_hour_per_caller=2, concurrent_per_caller=1))
    assert (await store.admit("CA1", ALICE, now=T0)).allowed
    assert (await store.admit("CA2", ALICE, now=T0 + 1)).reason == CALLER_CONCURRENT
    await store.release("CA1", ALICE)
    assert (await store.admit("CA3", ALICE, now=T0 + 2)).allowed


async def test_idle_callers_are_forgotten() -> None:
    store = MemoryLimitStore(CallLimits())
    for i in range(50):
        await store.admit(f"CA{i}", f"+1555{i:07d}", now=T0)
        await store.release(f"CA{i}", f"+1555{i:07d}")
    await store.admit("CAx", ALICE, now=T0 + 3601)
    assert len(store._callers) == 1
    assert store.live_calls() == 1


async def test_a_stream_of_new_callers_keeps_only_the_last_hours() -> None:
    store = MemoryLimitStore(CallLimits())
    for i in range(2000):  # a new number every 6 s for 200 minutes
        caller, now = f"+1555{i:07d}", T0 + 6 * i
        assert (await store.admit(f"CA{i}", caller, now=now)).allowed
        await store.release(f"CA{i}", caller)
    assert len(store._callers) <= 601  # the last hour's callers, not all 2,000


async def test_a_caller_on_a_long_call_is_kept_while_idle_ones_are_forgotten() -> None:
    store = MemoryLimitStore(CallLimits(max_call_seconds=0))  # the lease outlives the hour
    await store.admit("CAlong", ALICE, now=T0)  # never released: still on the line
    for i in range(5):
        await store.admit(f"CA{i}", f"+1555{i:07d}", now=T0 + 1)
        await store.release(f"CA{i}", f"+1555{i:07d}")
    await store.heartbeat("CAlong", ALICE, now=T0 + 3000)
    await store.admit("CAx", "+15550009999", now=T0 + 3700)
    assert "+15550009999" in store._callers and len(store._callers) == 2  # Alice and the new one


def test_memory_store_is_the_default() -> None:
    assert isinstance(make_limit_store(CallLimits()), MemoryLimitStore)


# (limits, turns, tokens, seconds elapsed, expected reason)
BUDGETS = [
    (CallLimits(), 0, 0, 0.0, None),
    (CallLimits(max_turns=3), 3, 0, 1.0, None),
    (CallLimits(max_turns=3), 4, 0, 1.0, MAX_TURNS),
    (CallLimits(max_llm_tokens=100), 1, 100, 1.0, None),
    (CallLimits(max_llm_tokens=100), 1, 101, 1.0, MAX_LLM_TOKENS),
    (CallLimits(max_call_seconds=60), 1, 0, 59.9, None),
    (CallLimits(max_call_seconds=60), 1, 0, 60.0, MAX_CALL_SECONDS),
    (CallLimits(max_call_seconds=60, max_turns=1), 5, 0, 61.0, MAX_CALL_SECONDS),
    (CallLimits(max_call_seconds=0, max_turns=0, max_llm_tokens=0), 10**6, 10**9, 1e6, None),
]


@pytest.mark.parametrize(("limits", "turns", "tokens", "elapsed", "expected"), BUDGETS)
def test_call_budget(
    limits: CallLimits, turns: int, tokens: int, elapsed: float, expected: str | None
) -> None:
    budget = CallBudget(limits, started_at=100.0)
    for _ in range(turns):
        budget.charge_turn()
    budget.charge_tokens(tokens)
    assert budget.over(100.0 + elapsed) == expected
    if expected is not None:
        assert LIMIT_GOODBYE[expected].endswith("goodbye.")


def test_budget_seconds_left_and_token_estimate() -> None:
    budget = CallBudget(CallLimits(max_call_seconds=60), started_at=10.0)
    assert budget.seconds_left(40.0) == 30.0
    assert budget.seconds_left(100.0) == 0.0
    assert CallBudget(CallLimits(max_call_seconds=0), 0.0).seconds_left(5.0) is None
    budget.charge_tokens(-5)
    assert budget.tokens == 0
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello there, how") == 4


@pytest.mark.parametrize("reason", [*BUSY_MESSAGES, "something_else"])
def test_busy_twiml_apologises_then_hangs_up(reason: str) -> None:
    root = ET.fromstring(busy_twiml(reason))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    said = root[0].text or ""
    assert said.startswith("Sorry") and said.endswith("Goodbye.")
    if reason in BUSY_MESSAGES:
        assert said == BUSY_MESSAGES[reason]


async def test_memory_store_claims_each_stream_once() -> None:
    store = MemoryLimitStore(CallLimits())
    assert await store.claim_stream("CA1")
    assert not await store.claim_stream("CA1")
    assert await store.claim_stream("CA2")
