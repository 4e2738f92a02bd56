"""Redis pub/sub as a transport for domain events: publish after commit, listen on a channel.

Pub/sub is fire-and-forget: subscribers that are not connected miss the message (the database
stays the source of truth). `channel_publish` sends once the surrounding transaction commits, so
nobody hears about a change that was rolled back; a Redis outage is logged (throttled) by the
cache's guarded call, never raised. The domain apps own their channels and message shapes (e.g.
``agent:status`` in ``apps.agents.services.status``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import redis
from django.db import transaction

from apps.platform.cache.api import get_cache
from apps.platform.cache.guards import REDIS_ERRORS


def publisher_origin() -> str:
    """This process's origin id (host:pid:random), the one its cache stamps on its own messages."""
    return get_cache().origin


def channel_publish(channel: str, body: str, *, what: str = "publish") -> None:
    """PUBLISH `body` on `channel` once the transaction commits (at once outside one); never raises.

    `what` names the call in the throttled error log when Redis is unavailable.
    """
    c = get_cache()
    transaction.on_commit(lambda: c.call(what, lambda r: r.publish(channel, body)))


def channel_listen(channel: str, *, count: int | None = None, timeout: float | None = None,
                   on_subscribed: Callable[[], None] | None = None) -> Iterator[str]:
    """Yield the messages published on `channel` (decoded text) until `count` or `timeout` is reached.

    Raises one of `REDIS_ERRORS` when Redis cannot be reached (a listener wants to know).
    """
    c = get_cache()
    client = redis.Redis.from_url(c.location, socket_connect_timeout=2, health_check_interval=5)
    pubsub = client.pubsub()
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    try:
        pubsub.subscribe(channel)
        while count is None or seen < count:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            if deadline is not None and time.monotonic() >= deadline:
                return
            msg = pubsub.get_message(timeout=wait)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                if on_subscribed:
                    on_subscribed()
                continue
            if msg["type"] == "message":
                seen += 1
                data = msg["data"]
                yield data.decode() if isinstance(data, bytes) else str(data)
    finally:
        pubsub.close()
        client.close()


__all__ = ["REDIS_ERRORS", "channel_listen", "channel_publish", "publisher_origin"]
