"""Where agent sessions live: `session:{agent_id}` JSON in Redis with a TTL (shared by their reads and writes).

A session is scratch state an agent keeps between steps (conversation id, cursor…), not data of
record: it lives only in Redis and expires unless touched. The value stored is
``{"data": {...}, "created_at": iso, "updated_at": iso}``. Sessions use the cache's Redis
connection directly (not `cache_set`): they are not copies of database rows, need no L1 and no
invalidation, and must fail loudly (503) rather than fall through when Redis is down.
"""

from __future__ import annotations

from typing import Any

import redis

from apps.common.errors import ServiceUnavailable
from apps.platform.cache import REDIS_ERRORS, get_cache

__all__ = ["REDIS_ERRORS", "session_key", "session_redis", "session_unavailable"]


def session_key(agent_id: Any) -> str:
    return f"session:{agent_id}"


def session_redis() -> redis.Redis:
    """The redis-py client of the default cache (its connection pool and location)."""
    return get_cache().redis


def session_unavailable(exc: BaseException) -> ServiceUnavailable:
    """The 503 to raise when Redis failed, after logging the failure (throttled) like every cache error."""
    get_cache().errors.report("agent session", exc)
    return ServiceUnavailable("the session store (Redis) is unavailable", code="unavailable")
