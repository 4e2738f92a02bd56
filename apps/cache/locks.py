"""Distributed locks on Redis: a token per holder, an expiry, release only by the owner.

Built on redis-py's ``Lock`` (its release and extend are Lua scripts that check the token), so
a holder whose lock expired cannot delete somebody else's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django_redis import get_redis_connection
from redis.lock import Lock


class LockNotAcquired(Exception):
    """Another holder has the lock (non-blocking) or it was not freed within the blocking timeout."""


def lock_key(name: str) -> str:
    return f"agency:lock:{name}"


@contextmanager
def distributed_lock(name: str, *, timeout: float = 60, blocking_timeout: float | None = 0) -> Iterator[Lock]:
    """Hold the lock `name` for the block; `blocking_timeout=0` fails at once, None waits forever."""
    lock = get_redis_connection("default").lock(
        lock_key(name), timeout=timeout, blocking=blocking_timeout != 0,
        blocking_timeout=blocking_timeout if blocking_timeout else None,
    )
    if not lock.acquire():
        raise LockNotAcquired(f"lock {name!r} is held by another process")
    try:
        yield lock
    finally:
        lock.release() if lock.owned() else None
