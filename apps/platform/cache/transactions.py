"""The cache and the database transaction: invalidate after commit, and read your own writes.

Two rules, one module, because both hang on "is this thread inside an atomic block":

* an invalidation runs once the transaction commits (at once in autocommit), so Redis and the
  other processes never drop (or miss) a value for a write that could still roll back; this
  process's own L1 drops its copy at once;
* the keys a thread invalidated inside a not-yet-committed transaction are "dirty" for that
  thread: the row cache reads them from the database, so a transaction always sees its writes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import transaction

_dirty = threading.local()  # keys this thread invalidated inside a not-yet-committed transaction


def after_commit(run: Callable[[], int], local_drop: Callable[[], Any], on_commit: bool = True) -> int | None:
    """Run an invalidation now (autocommit) or once the transaction commits; L1 drops at once too.

    Returns `run()`'s result when it ran at once, None when it was deferred to the commit.
    """
    if on_commit and transaction.get_connection().in_atomic_block:
        local_drop()
        transaction.on_commit(run)
        return None
    return run()


def mark_dirty(key: str) -> None:
    """Remember that this thread's open transaction invalidated `key` (forgotten on commit)."""
    if transaction.get_connection().in_atomic_block:
        keys = getattr(_dirty, "keys", None)
        if keys is None:
            keys = _dirty.keys = set()
        keys.add(key)
        transaction.on_commit(lambda: keys.discard(key))


def is_dirty(key: str) -> bool:
    """Whether this thread's open transaction invalidated `key` (then the cache must not answer)."""
    keys = getattr(_dirty, "keys", None)
    if not keys:
        return False
    if not transaction.get_connection().in_atomic_block:
        keys.clear()  # rolled back (no on_commit ran): nothing is pending any more
        return False
    return key in keys
