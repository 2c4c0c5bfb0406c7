"""The real Redis the tests use, and the skip marker for when it is not there."""

from __future__ import annotations

import os

import pytest
import redis
import redis.asyncio as aredis

__all__ = ["REDIS_URL", "delete_limit_keys", "needs_redis"]

REDIS_URL = os.environ.get("DIALGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_unreachable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} unreachable: {exc}"
    return None


_WHY = _redis_unreachable()
if _WHY is not None and os.environ.get("CI"):
    raise RuntimeError(f"{_WHY} (CI must run the Redis tests)")
# Skipped, with the reason, only when the server cannot be reached (never in CI).
needs_redis = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")


async def delete_limit_keys(prefix: str, *extra: str) -> None:
    """Delete a test deployment's limit keys (and ``extra`` keys) from Redis."""
    client = aredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{{{prefix}:limits}}*")]
        keys.extend(extra)
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
