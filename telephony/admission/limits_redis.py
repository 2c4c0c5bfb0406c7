"""Admission limits in Redis, shared by every worker of a deployment.

How it works: each admission runs one Lua script, so checking the limits and
recording the call is atomic across workers (no two workers can both take the
last slot). Three sorted sets per deployment prefix:

- ``{prefix}:c:<caller-hash>:hour``: CallSids admitted for a caller, scored by
  admission time; entries older than an hour are trimmed (a sliding window).
- ``{prefix}:c:<caller-hash>:live``: the caller's live CallSids, scored by
  lease expiry; expired entries are trimmed, so calls of a crashed worker free
  their slot when their lease ends.
- ``{prefix}:live``: all live CallSids, scored by lease expiry.

And one string per call, ``{prefix}:s:<CallSid>``, set once (``SET NX``) by
the worker that takes the call's media stream, so a call token replayed to
any other worker is refused.

Caller numbers never appear in keys: ``<caller-hash>`` is an HMAC-SHA256 of the
number under the deployment's secret. Every key carries a TTL. The prefix is a
Redis Cluster hash tag, so one script's keys share a slot. Without an explicit
``now``, times come from the Redis server's clock, so workers with skewed
clocks still agree.

If Redis fails in any way (reset, refused, unreachable: every command has a
socket timeout; or a client error of any type, such as the ``RuntimeError``
a reset connection can raise) the store falls back to this process's
:class:`~telephony.admission.limits.MemoryLimitStore`, which mirrors every admission
while Redis is up: a limit outage must neither turn every caller away nor
end a call. One warning says Redis is gone and one says it is back; while it
is down it is asked again every :data:`REDIS_RETRY_S` seconds, not on every
call, so a blackholed Redis does not add its timeout to each webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from telephony.admission.limits import (
    CALLER_CONCURRENT,
    CALLER_HOURLY,
    HOUR_S,
    OK,
    STREAM_CLAIM_S,
    TOTAL_CONCURRENT,
    CallLimits,
    Decision,
    MemoryLimitStore,
    caller_bucket,
)

__all__ = ["REDIS_RETRY_S", "REDIS_TIMEOUT_S", "UNAVAILABLE", "RedisLimitStore", "caller_key"]

logger = logging.getLogger("dialgraph.limits")

T = TypeVar("T")

UNAVAILABLE = "limits_unavailable"  # Decision reason when Redis could not decide
# Redis answers in well under a millisecond on a LAN; admission runs inside
# Twilio's webhook, so an unreachable Redis may cost it this, once per retry window.
REDIS_TIMEOUT_S = 0.5
REDIS_RETRY_S = 5.0  # while Redis is down, ask it again after this long
_REASONS = {1: OK, 2: CALLER_HOURLY, 3: CALLER_CONCURRENT, 4: TOTAL_CONCURRENT}

# KEYS: hour, caller live, total live.
# ARGV: now (negative: use the server clock), sid, window, per-hour limit,
#       per-caller limit, total limit, lease seconds.
# Returns {code, retry_after (string, "" if unknown)}; code 1 = allowed.
_ADMIT = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local sid = ARGV[2]
local window = tonumber(ARGV[3])
local per_hour = tonumber(ARGV[4])
local per_caller = tonumber(ARGV[5])
local total = tonumber(ARGV[6])
local lease = tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local function hold()
  local expires = now + lease
  redis.call('ZADD', KEYS[2], expires, sid)
  redis.call('ZADD', KEYS[3], expires, sid)
  redis.call('EXPIRE', KEYS[2], math.ceil(lease))
  redis.call('EXPIRE', KEYS[3], math.ceil(lease))
end
if redis.call('ZSCORE', KEYS[3], sid) then
  hold()
  return {1, ''}
end
if per_hour > 0 and redis.call('ZCARD', KEYS[1]) >= per_hour then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {2, string.format('%.3f', math.max(0, tonumber(oldest[2]) + window - now))}
end
if per_caller > 0 and redis.call('ZCARD', KEYS[2]) >= per_caller then
  return {3, ''}
end
if total > 0 and redis.call('ZCARD', KEYS[3]) >= total then
  return {4, ''}
end
redis.call('ZADD', KEYS[1], now, sid)
redis.call('EXPIRE', KEYS[1], math.ceil(window))
hold()
return {1, ''}
"""

# KEYS: caller live, total live. ARGV: now (negative: server clock), sid, lease.
_HEARTBEAT = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(lease))
redis.call('EXPIRE', KEYS[2], math.ceil(lease))
return 1
"""


def caller_key(secret: bytes, caller: str) -> str:
    """The keyed hash that stands for a caller number in Redis keys (128 bits, hex)."""
    return hmac.new(secret, caller.encode(), hashlib.sha256).hexdigest()[:32]


class RedisLimitStore:
    """Admission limits in Redis (see the module docstring).

    Args:
        url: Redis URL, e.g. ``redis://127.0.0.1:6379/0``.
        limits: The limits every worker must be configured with alike.
        secret: HMAC key for caller numbers; every worker needs the same one.
        prefix: Key namespace, one per deployment.
        timeout_s: Socket connect and read timeout of every Redis command.
        clock: Monotonic seconds, for the retry window while Redis is down.
    """

    def __init__(
        self,
        url: str,
        limits: CallLimits,
        *,
        secret: str | bytes,
        prefix: str = "dialgraph",
        timeout_s: float = REDIS_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret:
            raise ValueError("RedisLimitStore needs a secret shared by every worker")
        self.limits = limits
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._prefix = "{" + prefix + ":limits}"
        self._redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_keepalive=True,
            # One immediate retry: a connection a Redis restart killed is
            # replaced; more would multiply the timeout of an unreachable one.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        self._admit = self._redis.register_script(_ADMIT)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._local = MemoryLimitStore(limits)
        self._clock = clock
        self._down_until: float | None = None  # Redis failed: not asked again before this

    @property
    def degraded(self) -> bool:
        """Whether limits are being kept in this process because Redis failed."""
        return self._down_until is not None

    async def _redis_call(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """``call()``'s result, or ``None`` when Redis is down or failed (any error).

        ``call`` must not answer ``None`` itself.
        """
        if self._down_until is not None and self._clock() < self._down_until:
            return None
        try:
            result = await call()
        except Exception as exc:  # any failure of the client, not only RedisError
            if self._down_until is None:
                logger.warning(
                    "Redis limits unavailable (%s during %s); using this process's "
                    "limits until it is back",
                    type(exc).__name__,
                    what,
                )
            self._down_until = self._clock() + REDIS_RETRY_S
            return None
        if self._down_until is not None:
            logger.warning("Redis limits are back; limits are shared again")
            self._down_until = None
        return result

    @property
    def prefix(self) -> str:
        """The literal start of every key this store writes."""
        return self._prefix

    def _keys(self, caller: str) -> tuple[str, str, str]:
        who = f"{self._prefix}:c:{caller_key(self._secret, caller_bucket(caller))}"
        return f"{who}:hour", f"{who}:live", f"{self._prefix}:live"

    async def admit(self, call_sid: str, caller: str, now: float | None = None) -> Decision:
        """Check the hourly, per-caller and total limits atomically; record an allowed call."""
        limits = self.limits
        args = [
            -1 if now is None else now,
            call_sid,
            HOUR_S,
            limits.calls_per_hour_per_caller,
            limits.concurrent_per_caller,
            limits.concurrent_total,
            limits.lease_s,
        ]
        keys = list(self._keys(caller))
        answer = await self._redis_call("admission", lambda: self._admit(keys=keys, args=args))
        if answer is None:  # this process decides; an allowed call says Redis did not
            local = await self._local.admit(call_sid, caller, now)
            return local if not local.allowed else Decision(True, UNAVAILABLE)
        code, retry = answer
        reason = _REASONS.get(int(code), UNAVAILABLE)
        if reason == OK:  # mirrored, so this process knows its live calls if Redis goes
            await self._local.admit(call_sid, caller, now)
        return Decision(reason == OK, reason, float(retry) if retry else None)

    async def claim_stream(self, call_sid: str) -> bool:
        """Claim the call's one media stream for every worker (``SET NX``).

        If Redis cannot answer, this process's claims decide (a replay to this
        worker is still refused).
        """
        key = f"{self._prefix}:s:{call_sid}"
        local = await self._local.claim_stream(call_sid)

        async def claim() -> bool:  # SET NX answers None, not False, when taken
            return bool(await self._redis.set(key, 1, nx=True, ex=int(STREAM_CLAIM_S)))

        claimed = await self._redis_call("stream claim", claim)
        return local if claimed is None else claimed

    async def release(self, call_sid: str, caller: str) -> None:
        """Free the call's live slots (its hourly count stays); never raises."""
        await self._local.release(call_sid, caller)
        _, live, total = self._keys(caller)

        async def release() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(live, call_sid)
                pipe.zrem(total, call_sid)
                await pipe.execute()

        await self._redis_call("release", release)  # if down: its lease will expire

    async def heartbeat(self, call_sid: str, caller: str, now: float | None = None) -> None:
        """Extend a live call's lease; a no-op for calls not live; never raises."""
        await self._local.heartbeat(call_sid, caller, now)
        _, live, total = self._keys(caller)
        args = [-1 if now is None else now, call_sid, self.limits.lease_s]
        await self._redis_call(
            "lease extension", lambda: self._heartbeat(keys=[live, total], args=args)
        )

    async def live_calls(self, now: float | None = None) -> int:
        """Live calls across all workers (leases not expired at ``now``)."""
        if now is None:
            seconds, micros = await self._redis.time()
            now = seconds + micros / 1_000_000
        return int(await self._redis.zcount(f"{self._prefix}:live", f"({now}", "+inf"))

    async def aclose(self) -> None:
        """Close the connection pool (never raises: the call or server is ending)."""
        try:
            await self._redis.aclose()
        except Exception as exc:
            logger.debug("closing the Redis client: %s", type(exc).__name__)
