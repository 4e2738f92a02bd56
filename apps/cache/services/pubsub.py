"""Agent status notifications on Redis pub/sub.

Channel ``agent:status``; each message is one JSON object::

    {"type": "agent.status", "agent_id": "<uuid>", "old": "active", "new": "maintenance",
     "at": "2026-11-23T16:00:00.123456+00:00", "origin": "<host>:<pid>:<boot>"}

Pub/sub is fire-and-forget: subscribers that are not connected miss the message (the database
stays the source of truth). Publishing happens after the surrounding transaction commits, so
nobody hears about a change that was rolled back; a Redis outage is logged (throttled), never raised.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone

from apps.cache.backend import REDIS_ERRORS
from apps.cache.services.core import get_cache

AGENT_STATUS_CHANNEL = "agent:status"


def agent_status_message(agent_id: Any, old: str | None, new: str) -> dict[str, Any]:
    return {"type": "agent.status", "agent_id": str(agent_id), "old": old, "new": new,
            "at": timezone.now().isoformat(), "origin": get_cache().origin}


def agent_status_publish(agent_id: Any, old: str | None, new: str) -> None:
    """Publish an agent's status change on `agent:status` once the transaction commits."""
    body = json.dumps(agent_status_message(agent_id, old, new))
    c = get_cache()
    transaction.on_commit(lambda: c.call("publish agent status", lambda r: r.publish(AGENT_STATUS_CHANNEL, body)))


def channel_listen(channel: str, *, count: int | None = None, timeout: float | None = None,
                   on_subscribed=None) -> Iterator[str]:
    """Yield the messages published on `channel` (decoded text) until `count` or `timeout` is reached."""
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
    except REDIS_ERRORS:
        raise
    finally:
        pubsub.close()
        client.close()
