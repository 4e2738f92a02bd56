"""Distributed locks on Redis: a token per holder, an expiry, release only by the owner.

Built on redis-py's ``Lock``: acquire is ``SET key token NX PX``; release and extend are Lua scripts
that first check the token, so a holder whose lock expired cannot delete or prolong somebody
else's. Used to keep maintenance jobs from overlapping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from django_redis import get_redis_connection
from redis.exceptions import LockError
from redis.lock import Lock


class LockNotAcquired(Exception):
    """Another holder has the lock (non-blocking) or it was not freed within the blocking timeout."""


class LockLost(Exception):
    """The lock expired (or was taken over) before its holder extended or released it."""


def lock_key(name: str) -> str:
    return f"agency:lock:{name}"


def lock_create(name: str, *, timeout: float = 60, blocking_timeout: float | None = 0) -> Lock:
    """An unacquired lock object; `blocking_timeout=0` fails at once, None waits forever."""
    return get_redis_connection("default").lock(
        lock_key(name), timeout=timeout, blocking=blocking_timeout != 0,
        blocking_timeout=blocking_timeout if blocking_timeout else None,
    )


def lock_extend(lock: Lock, *, additional: float, replace: bool = False) -> None:
    """Prolong a held lock by `additional` seconds (or set its remaining time with replace=True)."""
    try:
        lock.extend(additional, replace_ttl=replace)
    except LockError as exc:
        raise LockLost(f"lock {lock.name!r} is no longer held by this owner") from exc


def lock_is_held(name: str) -> bool:
    return bool(get_redis_connection("default").exists(lock_key(name)))


@contextmanager
def distributed_lock(name: str, *, timeout: float = 60, blocking_timeout: float | None = 0) -> Iterator[Lock]:
    """Hold the lock `name` for the block; `blocking_timeout=0` fails at once, None waits forever.

    The yielded redis-py Lock can be prolonged with `lock_extend(lock, additional=...)`. If the
    block outlives the lock's expiry, release does nothing (the token no longer matches).
    """
    lock = lock_create(name, timeout=timeout, blocking_timeout=blocking_timeout)
    if not lock.acquire():
        raise LockNotAcquired(f"lock {name!r} is held by another process")
    try:
        yield lock
    finally:
        if lock.owned():
            # Expired between owned() and release(): it is somebody else's now, leave it.
            with contextlib.suppress(LockError):
                lock.release()
