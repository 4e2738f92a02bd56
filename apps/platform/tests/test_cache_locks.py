"""Distributed locks on the real Redis: ownership, expiry, blocking, extend."""

import threading
import time

import pytest
from redis.exceptions import LockNotOwnedError

from apps.platform.cache import LockLost, LockNotAcquired, distributed_lock, lock_create, lock_extend, lock_is_held


def test_non_blocking_second_holder_is_refused():
    with distributed_lock("job", timeout=5), pytest.raises(LockNotAcquired, match="job"), \
            distributed_lock("job", timeout=5):
        pass
    assert not lock_is_held("job")
    with distributed_lock("job", timeout=5):  # free again
        assert lock_is_held("job")


def test_another_token_cannot_release_or_extend():
    with distributed_lock("owned", timeout=5) as lock:
        intruder = lock_create("owned", timeout=5)
        intruder.local.token = b"not-the-owner"
        with pytest.raises(LockNotOwnedError):
            intruder.release()
        with pytest.raises(LockLost):
            lock_extend(intruder, additional=10)
        assert lock.owned() and lock_is_held("owned")


def test_lock_expires_and_the_late_owner_does_not_delete_the_new_holders_lock():
    with distributed_lock("short", timeout=0.2) as lock:
        time.sleep(0.35)
        assert not lock.owned()
        other = lock_create("short", timeout=5)
        assert other.acquire()
    assert lock_is_held("short")  # the expired owner's exit left the new holder's lock alone
    other.release()


def test_blocking_waits_for_release_or_gives_up_after_timeout():
    held = threading.Event()
    release = threading.Event()

    def holder():
        with distributed_lock("queue", timeout=5):
            held.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    start = time.monotonic()
    with pytest.raises(LockNotAcquired), distributed_lock("queue", timeout=5, blocking_timeout=0.3):
        pass
    assert 0.15 <= time.monotonic() - start < 2  # it waited (redis-py polls every 0.1 s)
    threading.Timer(0.2, release.set).start()
    with distributed_lock("queue", timeout=5, blocking_timeout=3) as lock:
        assert lock.owned()
    t.join(5)


def test_extend_keeps_the_lock_past_its_original_expiry():
    with distributed_lock("long", timeout=0.3) as lock:
        lock_extend(lock, additional=2)
        time.sleep(0.45)
        assert lock.owned()
        lock_extend(lock, additional=0.2, replace=True)
        time.sleep(0.3)
        assert not lock.owned()
        with pytest.raises(LockLost):
            lock_extend(lock, additional=1)
