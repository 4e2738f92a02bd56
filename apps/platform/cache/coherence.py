"""Coherence of the L1s: a daemon thread per process and cache subscribes to the invalidation
channel and drops local entries; L1 is served only while that subscription is confirmed alive.

On connect (and every reconnect) the L1 is cleared, since messages may have been missed, and
invalidations that Redis could not receive while down are replayed. Forked children (Celery
prefork, gunicorn) start their own thread and get fresh locks.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import weakref
from typing import Any

import redis

from apps.platform.cache.guards import process_id

_fork_count = 0  # bumped in every forked child
_instances: weakref.WeakSet = weakref.WeakSet()  # every CacheEngine of this process


def _after_fork_in_child() -> None:
    """A forked child (Celery prefork, gunicorn) has no subscriber thread: make caches start one.

    Locks are recreated too: one held by another thread at fork time would never be released here.
    """
    global _fork_count
    _fork_count += 1
    for c in list(_instances):
        c._reinit_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def register_instance(cache: Any) -> None:
    """Track a cache instance so a forked child re-initialises it (weakly: a dropped cache is forgotten)."""
    _instances.add(cache)


def sibling_instances(cache: Any) -> list[Any]:
    """The other live, shared engines of this process on the same Redis and channel as `cache`.

    They may hold the same full keys (another alias with the same prefix, or another version), so
    a write drops their L1 copies at once instead of waiting for its own message to come back.
    """
    return [c for c in list(_instances)
            if c is not cache and not c.isolated and not c.stopped and c.location == cache.location
            and c.channel == cache.channel]


class CoherenceMixin:
    """The subscriber side of `CacheEngine` (which supplies local, errors, channel, location…)."""

    def _reinit_after_fork(self) -> None:
        self.local.reset_after_fork()
        self._access_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._fill_locks = [threading.Lock() for _ in range(len(self._fill_locks))]
        self._access = {}
        self._healthy = False
        self._client_cache = None

    # ---- L1 usability (coherence) -------------------------------------------------------------
    @property
    def subscribed(self) -> bool:
        """Whether this process's invalidation subscription is confirmed alive right now."""
        return self._sub_healthy.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Start the subscriber if needed and wait until it is confirmed (True) or `timeout` passes."""
        self.l1_usable()
        return self._sub_healthy.wait(timeout)

    def l1_usable(self) -> bool:
        """L1 may serve only while this process is subscribed to invalidations (started lazily)."""
        if self.stopped:
            return False
        if self._sub_fork != _fork_count:
            self._start_subscriber()
        return self._healthy

    def _start_subscriber(self) -> None:
        with self._pending_lock:
            if self._sub_fork == _fork_count and self._sub_pid == os.getpid():
                return
            # A forked child (Celery prefork) inherits neither the thread nor a valid L1.
            self.local.clear()
            self.origin = process_id()
            self._sub_stop = threading.Event()
            self._sub_healthy = threading.Event()
            self._sub_pid = os.getpid()
            self._sub_fork = _fork_count
            self._healthy = False
            self._sub_thread = threading.Thread(target=self._subscribe_loop, daemon=True,
                                                name=f"cache-invalidation-{self.key_prefix}")
            self._sub_thread.start()

    def stop(self) -> None:
        """End the subscriber thread for good: a stopped engine serves no L1 and is replaced on next use."""
        self.stopped = True
        self.local.clear()
        self._sub_stop.set()
        self._sub_healthy.clear()
        self._healthy = False
        self._sub_pid = None
        self._sub_fork = -1

    def _subscribe_loop(self) -> None:
        stop, healthy = self._sub_stop, self._sub_healthy
        backoff = 0.05
        while not stop.is_set():
            client = pubsub = None
            try:
                client = redis.Redis.from_url(self.location, socket_connect_timeout=1, socket_timeout=5,
                                              health_check_interval=2)
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                msg = pubsub.get_message(timeout=2)
                if not msg or msg.get("type") != "subscribe":
                    raise redis.exceptions.ConnectionError("no subscribe confirmation")
                self.local.clear()  # anything may have changed while we were not listening
                self._replay_pending()
                healthy.set()
                self._healthy = True
                backoff = 0.05
                while not stop.is_set():
                    msg = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg and msg.get("type") == "message":
                        self._apply_remote(msg["data"])
                    if time.monotonic() - self._last_flush >= 1.0:
                        self.flush_counters()  # cluster-wide stats and access counts, about once a second
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything
                healthy.clear()
                self._healthy = False
                self.local.clear()
                if stop.is_set():
                    break
                self.errors.report("invalidation subscriber", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if stop.is_set():
                    healthy.clear()
                    self._healthy = False
                for closeable in (pubsub, client):
                    with contextlib.suppress(Exception):
                        closeable and closeable.close()

    def _apply_remote(self, data: bytes | str) -> None:
        # Our own messages (a busy writer receives every one of them) are skipped without parsing:
        # `_message` always serialises the origin first.
        if isinstance(data, bytes) and data.startswith(b'{"origin": ' + json.dumps(self.origin).encode()):
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        if message.get("origin") == self.origin:
            return
        self.deliveries += 1
        self._drop_local(message)

    def _drop_local(self, message: dict[str, Any]) -> None:
        if message.get("all"):
            self.local.clear()
            return
        if message.get("keys"):
            self.local.delete_many(message["keys"])
        if message.get("tags"):
            self.local.drop_tags(message["tags"])
        if message.get("pattern"):
            self.local.drop_pattern(message["pattern"])
