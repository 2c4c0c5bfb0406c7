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

If Redis cannot be reached the store lets calls through (logged at ERROR):
a limit outage must not turn every caller away.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from telephony.limits import (
    CALLER_CONCURRENT,
    CALLER_HOURLY,
    HOUR_S,
    OK,
    STREAM_CLAIM_S,
    TOTAL_CONCURRENT,
    CallLimits,
    Decision,
    caller_bucket,
)

__all__ = ["UNAVAILABLE", "RedisLimitStore", "caller_key"]

logger = logging.getLogger("dialgraph.limits")

UNAVAILABLE = "limits_unavailable"  # Decision reason when Redis could not decide
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
    """

    def __init__(
        self,
        url: str,
        limits: CallLimits,
        *,
        secret: str | bytes,
        prefix: str = "dialgraph",
    ) -> None:
        if not secret:
            raise ValueError("RedisLimitStore needs a secret shared by every worker")
        self.limits = limits
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._prefix = "{" + prefix + ":limits}"
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._admit = self._redis.register_script(_ADMIT)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)

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
        try:
            code, retry = await self._admit(keys=list(self._keys(caller)), args=args)
        except RedisError as exc:
            logger.error("rate limits unavailable, letting call %s through: %s", call_sid, exc)
            return Decision(True, UNAVAILABLE)
        reason = _REASONS.get(int(code), UNAVAILABLE)
        return Decision(reason == OK, reason, float(retry) if retry else None)

    async def claim_stream(self, call_sid: str) -> bool:
        """Claim the call's one media stream for every worker (``SET NX``).

        If Redis cannot answer, the claim is granted (this worker's own
        registry still refuses a replay to it) and the error is logged.
        """
        key = f"{self._prefix}:s:{call_sid}"
        try:
            return bool(await self._redis.set(key, 1, nx=True, ex=int(STREAM_CLAIM_S)))
        except RedisError as exc:
            logger.error("stream claims unavailable, admitting %s: %s", call_sid, exc)
            return True

    async def release(self, call_sid: str, caller: str) -> None:
        """Free the call's live slots (its hourly count stays); errors are logged."""
        _, live, total = self._keys(caller)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(live, call_sid)
                pipe.zrem(total, call_sid)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("could not release call %s (its lease will expire): %s", call_sid, exc)

    async def heartbeat(self, call_sid: str, caller: str, now: float | None = None) -> None:
        """Extend a live call's lease; a no-op for calls not live."""
        _, live, total = self._keys(caller)
        args = [-1 if now is None else now, call_sid, self.limits.lease_s]
        try:
            await self._heartbeat(keys=[live, total], args=args)
        except RedisError as exc:
            logger.warning("could not extend the lease of call %s: %s", call_sid, exc)

    async def live_calls(self, now: float | None = None) -> int:
        """Live calls across all workers (leases not expired at ``now``)."""
        if now is None:
            seconds, micros = await self._redis.time()
            now = seconds + micros / 1_000_000
        return int(await self._redis.zcount(f"{self._prefix}:live", f"({now}", "+inf"))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
