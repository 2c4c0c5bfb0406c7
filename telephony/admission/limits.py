"""Rate limits and quotas: who may start a call, and how long a call may run.

How it works:

- At the voice webhook, before any TwiML is returned, a :class:`LimitStore`
  decides whether the call may start: calls per hour from one caller number
  (a sliding window), live calls from one caller number, and live calls in
  total. An allowed call is recorded as live until :meth:`LimitStore.release`
  or until its lease runs out (so calls of a crashed worker free their slot).
  A refused caller hears :func:`busy_twiml`: a short apology, then a hang-up.
- During the call a pure :class:`CallBudget` counts turns, seconds and LLM
  tokens; the session checks :meth:`CallBudget.over` and, when a limit is hit,
  says the matching :data:`LIMIT_GOODBYE` phrase and hangs up.

:class:`MemoryLimitStore` keeps the counts in this process (the default);
:class:`telephony.admission.limits_redis.RedisLimitStore` keeps them in Redis so every
worker enforces the same limits. Both treat a limit of ``0`` as "no limit" and
a repeated admission of the same ``CallSid`` (Twilio retrying the webhook) as
the same call. This module imports neither store's backend;
:func:`telephony.admission.factory.make_limit_store` picks one.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from memory.callerid import normalise_caller
from telephony.wire.twiml import hang_up_twiml

__all__ = [
    "BUSY_MESSAGES",
    "CALLER_CONCURRENT",
    "CALLER_HOURLY",
    "LIMIT_GOODBYE",
    "MAX_CALL_SECONDS",
    "MAX_LLM_TOKENS",
    "MAX_TURNS",
    "OK",
    "TOTAL_CONCURRENT",
    "CallBudget",
    "CallLimits",
    "Decision",
    "LimitStore",
    "MemoryLimitStore",
    "busy_twiml",
    "caller_bucket",
    "estimate_tokens",
]

HOUR_S = 3600.0  # the per-caller window is one hour, sliding
STREAM_CLAIM_S = 86_400.0  # a claimed stream stays claimed this long (Redis)
_REMEMBER_STREAMS = 100_000  # claimed CallSids kept in process; bounded memory
LEASE_GRACE_S = 120.0  # a live call's slot outlives its maximum duration by this much
CHARS_PER_TOKEN = 4  # rough English average, for models that report no usage

# Decision reasons (admission) and budget reasons (mid-call); also metric labels.
OK = "ok"
CALLER_HOURLY = "caller_hourly"
CALLER_CONCURRENT = "caller_concurrent"
TOTAL_CONCURRENT = "total_concurrent"
MAX_CALL_SECONDS = "max_call_seconds"
MAX_TURNS = "max_turns"
MAX_LLM_TOKENS = "max_llm_tokens"

BUSY_MESSAGES: dict[str, str] = {
    CALLER_HOURLY: (
        "Sorry, we have had several calls from your number in the last hour. "
        "Please try again a little later. Goodbye."
    ),
    CALLER_CONCURRENT: (
        "Sorry, your number is already on a call with us. Please finish that call first. Goodbye."
    ),
    TOTAL_CONCURRENT: (
        "Sorry, all our lines are busy right now. Please try again in a few minutes. Goodbye."
    ),
}
_BUSY_DEFAULT = "Sorry, we cannot take your call right now. Please try again later. Goodbye."

LIMIT_GOODBYE: dict[str, str] = {
    MAX_CALL_SECONDS: (
        "We have reached the time limit for this call. Thank you for calling, goodbye."
    ),
    MAX_TURNS: "We have reached the limit for this call. Thank you for calling, goodbye.",
    MAX_LLM_TOKENS: "We have reached the limit for this call. Thank you for calling, goodbye.",
}


@dataclass(frozen=True, slots=True)
class CallLimits:
    """The limits; ``0`` switches a limit off.

    Attributes:
        calls_per_hour_per_caller: Calls one caller number may start in any hour.
        concurrent_per_caller: Live calls one caller number may have at once.
        concurrent_total: Live calls the deployment takes at once.
        max_call_seconds: Longest a call may run.
        max_turns: Most agent replies in one call.
        max_llm_tokens: Most LLM tokens (prompt + reply) in one call.
    """

    calls_per_hour_per_caller: int = 10
    concurrent_per_caller: int = 2
    concurrent_total: int = 100
    max_call_seconds: float = 1200.0
    max_turns: int = 100
    max_llm_tokens: int = 200_000

    @property
    def lease_s(self) -> float:
        """How long a live call holds its slot without a release or heartbeat."""
        longest = self.max_call_seconds if self.max_call_seconds > 0 else HOUR_S
        return longest + LEASE_GRACE_S


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a call may start.

    Attributes:
        allowed: Answer the call normally.
        reason: :data:`OK`, or which limit refused it (:data:`CALLER_HOURLY`,
            :data:`CALLER_CONCURRENT`, :data:`TOTAL_CONCURRENT`); a store that
            could not decide and let the call through says so here.
        retry_after_s: When the caller may try again, if known.
    """

    allowed: bool
    reason: str = OK
    retry_after_s: float | None = None


class LimitStore(Protocol):
    """Where admission counts live (this process, or Redis shared by workers).

    Attributes:
        limits: The limits it enforces (sessions read the per-call ones here).
    """

    limits: CallLimits

    async def admit(self, call_sid: str, caller: str, now: float | None = None) -> Decision:
        """Check every admission limit and, if allowed, record the call as live."""
        ...

    async def release(self, call_sid: str, caller: str) -> None:
        """The call ended: free its live slots (idempotent)."""
        ...

    async def claim_stream(self, call_sid: str) -> bool:
        """Claim the one media stream a call may have; ``False`` if already claimed.

        Shared like the limits, so a call token replayed to another worker is
        refused too. Claims outlive the call by a day (tokens expire sooner).
        """
        ...

    async def heartbeat(self, call_sid: str, caller: str, now: float | None = None) -> None:
        """Extend a live call's lease (calls longer than the lease need this)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


ANONYMOUS = "anonymous"


def caller_bucket(caller: str) -> str:
    """The key per-caller limits count ``caller`` under.

    Every withheld or unparseable caller ID (:func:`memory.callerid.normalise_caller`
    gives ``""``: ``anonymous``, ``+266696687``, a SIP address, garbage) shares
    the one ``"anonymous"`` bucket: hiding the number, or sending a new
    made-up one each time, must not escape the per-caller limits, so such
    callers together get what one number gets.
    """
    return normalise_caller(caller) or ANONYMOUS


def _allowed(limit: int, count: int) -> bool:
    return limit <= 0 or count < limit


@dataclass(slots=True)
class _Caller:
    admitted: dict[str, float] = field(default_factory=dict)  # CallSid -> admitted at
    live: dict[str, float] = field(default_factory=dict)  # CallSid -> lease expiry


class MemoryLimitStore:
    """In-process admission limits. Times are wall-clock seconds from ``clock``.

    Its methods are ``async`` only to share the :class:`LimitStore` protocol
    with the Redis store; none of them awaits anything.
    """

    def __init__(self, limits: CallLimits, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        # Callers by last activity, oldest first: the idle ones are forgotten
        # from the front, so an admission costs O(1) however many called this hour.
        self._callers: OrderedDict[str, _Caller] = OrderedDict()
        self._live: dict[str, float] = {}  # CallSid -> lease expiry, all callers
        self._streams: OrderedDict[str, None] = OrderedDict()  # CallSids with a stream

    async def admit(self, call_sid: str, caller: str, now: float | None = None) -> Decision:
        """Check the hourly, per-caller and total limits; record an allowed call."""
        now = self._clock() if now is None else now
        limits = self.limits
        bucket = caller_bucket(caller)
        entry = self._callers.setdefault(bucket, _Caller())
        self._callers.move_to_end(bucket)
        self._expire(entry, now)
        if call_sid in self._live:  # Twilio retried the webhook: same call
            self._hold(entry, call_sid, now)
            return Decision(True)
        if not _allowed(limits.calls_per_hour_per_caller, len(entry.admitted)):
            oldest = min(entry.admitted.values())
            return Decision(False, CALLER_HOURLY, max(0.0, oldest + HOUR_S - now))
        if not _allowed(limits.concurrent_per_caller, len(entry.live)):
            return Decision(False, CALLER_CONCURRENT)
        if not _allowed(limits.concurrent_total, len(self._live)):
            return Decision(False, TOTAL_CONCURRENT)
        entry.admitted[call_sid] = now
        self._hold(entry, call_sid, now)
        return Decision(True)

    async def claim_stream(self, call_sid: str) -> bool:
        """Claim the call's one media stream in this process (bounded memory)."""
        if call_sid in self._streams:
            return False
        self._streams[call_sid] = None
        while len(self._streams) > _REMEMBER_STREAMS:
            self._streams.popitem(last=False)
        return True

    async def release(self, call_sid: str, caller: str) -> None:
        """Free the call's live slots; its hourly count stays."""
        self._live.pop(call_sid, None)
        bucket = caller_bucket(caller)
        entry = self._callers.get(bucket)
        if entry is not None:
            entry.live.pop(call_sid, None)
            if not entry.live and not entry.admitted:
                del self._callers[bucket]

    async def heartbeat(self, call_sid: str, caller: str, now: float | None = None) -> None:
        """Extend the lease of a call that is still live."""
        bucket = caller_bucket(caller)
        entry = self._callers.get(bucket)
        if entry is not None and call_sid in entry.live:
            self._callers.move_to_end(bucket)
            self._hold(entry, call_sid, self._clock() if now is None else now)

    async def aclose(self) -> None:
        """Nothing to close."""

    def live_calls(self) -> int:
        """Live calls recorded (leases not yet expired at the last admission)."""
        return len(self._live)

    def _hold(self, entry: _Caller, call_sid: str, now: float) -> None:
        expires = now + self.limits.lease_s
        entry.live[call_sid] = expires
        self._live[call_sid] = expires

    def _expire(self, entry: _Caller, now: float) -> None:
        entry.admitted = {s: t for s, t in entry.admitted.items() if t > now - HOUR_S}
        entry.live = {s: t for s, t in entry.live.items() if t > now}
        self._live = {s: t for s, t in self._live.items() if t > now}
        # Forget callers with nothing left so memory stays bounded by recent callers.
        # Idleness follows last activity, so the idle ones gather at the front;
        # a caller still active there (a lease longer than the hour) holds the
        # rest back until a later admission, which is never wrong, only later.
        while self._callers:
            key, oldest = next(iter(self._callers.items()))
            if oldest is entry or not _idle(oldest, now):
                break
            del self._callers[key]


def _idle(entry: _Caller, now: float) -> bool:
    return all(t <= now - HOUR_S for t in entry.admitted.values()) and all(
        t <= now for t in entry.live.values()
    )


@dataclass(slots=True)
class CallBudget:
    """One call's per-call limits: turns, seconds and LLM tokens. Pure; no I/O.

    Args:
        limits: The limits (only the per-call ones are read).
        started_at: Clock reading when the call started (any monotonic clock,
            as long as :meth:`over` gets readings of the same clock).
    """

    limits: CallLimits
    started_at: float
    turns: int = 0
    tokens: int = 0

    def charge_turn(self) -> None:
        """Count one agent reply."""
        self.turns += 1

    def charge_tokens(self, n: int) -> None:
        """Count ``n`` LLM tokens (see :func:`estimate_tokens` without usage data)."""
        self.tokens += max(0, n)

    def settle_tokens(self, estimated: int, reported: int) -> None:
        """Replace a turn's ``estimated`` tokens by what the model ``reported``."""
        self.tokens = max(0, self.tokens - estimated + reported)

    def over(self, now: float) -> str | None:
        """The limit this call has passed (a :data:`LIMIT_GOODBYE` key), or ``None``."""
        limits = self.limits
        if limits.max_call_seconds > 0 and now - self.started_at >= limits.max_call_seconds:
            return MAX_CALL_SECONDS
        if limits.max_turns > 0 and self.turns > limits.max_turns:
            return MAX_TURNS
        if limits.max_llm_tokens > 0 and self.tokens > limits.max_llm_tokens:
            return MAX_LLM_TOKENS
        return None

    def seconds_left(self, now: float) -> float | None:
        """Time until :data:`MAX_CALL_SECONDS` is reached; ``None`` without that limit."""
        if self.limits.max_call_seconds <= 0:
            return None
        return max(0.0, self.started_at + self.limits.max_call_seconds - now)


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text`` for models that report no usage."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def busy_twiml(reason: str) -> str:
    """TwiML for a refused call: a short apology for ``reason``, then hang up."""
    return hang_up_twiml(BUSY_MESSAGES.get(reason, _BUSY_DEFAULT))
