"""Which admission store a deployment uses: Redis when configured, else this process's memory.

Kept apart from both stores so neither imports the other: the shared types
and the in-process store are :mod:`telephony.admission.limits`, the Redis
store (:mod:`telephony.admission.limits_redis`) imports them, and this
module, which imports both, is the only place that picks one. The Redis
client is imported only when a Redis URL is set.
"""

from __future__ import annotations

from telephony.admission.limits import CallLimits, LimitStore, MemoryLimitStore

__all__ = ["make_limit_store"]


def make_limit_store(
    limits: CallLimits, *, redis_url: str = "", secret: str | bytes = "", prefix: str = "dialgraph"
) -> LimitStore:
    """The Redis store when ``redis_url`` is set, else the in-process one."""
    if not redis_url:
        return MemoryLimitStore(limits)
    from telephony.admission.limits_redis import RedisLimitStore  # the redis client: only when used

    return RedisLimitStore(redis_url, limits, secret=secret, prefix=prefix)
