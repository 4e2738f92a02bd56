"""Overlap protection for long jobs: a Redis lock with a short expiry that a live job keeps extending.

A fixed long expiry would keep a dead worker's lock for hours, and the redelivered task would
skip; a short one would let a second job start while the first still runs. So the holder renews
the lock from a heartbeat thread every third of its TTL: alive, it stays held; killed, it lapses
within one TTL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from apps.platform.cache import LockNotAcquired, distributed_lock

logger = logging.getLogger(__name__)

# Named after the app label, like its tasks. (Before issue #12 they were `ops:*`: a worker of the
# older release would not see a new worker's lock, so upgrade with the maintenance workers stopped.)
MAINTENANCE_LOCK = "schema:maintenance"
BACKUP_LOCK = "schema:backup"
SCHEMA_LOCK = "schema:migrate"
SKIPPED_LOCK_HELD = "skipped: lock held"

__all__ = ["BACKUP_LOCK", "MAINTENANCE_LOCK", "SCHEMA_LOCK", "SKIPPED_LOCK_HELD", "LockNotAcquired", "exclusive"]


@contextmanager
def exclusive(name: str, *, ttl: float | None = None) -> Iterator[None]:
    """Hold the lock `name` for the block or raise `LockNotAcquired` at once (never waits)."""
    ttl = float(ttl or settings.AGENCY_SCHEMA_LOCK_TTL)
    with distributed_lock(name, timeout=ttl, blocking_timeout=0) as lock:
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl / 3):
                try:
                    lock.extend(ttl, replace_ttl=True)
                except Exception:  # noqa: BLE001 - Redis blips must not kill the job; the lock may lapse
                    logger.warning("could not extend the lock %s", name, exc_info=True)

        beat = threading.Thread(target=renew, name=f"lock-heartbeat:{name}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join(timeout=5)
