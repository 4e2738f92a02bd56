"""Agent status notifications on Redis pub/sub (the transport is `apps.platform.cache.pubsub`).

Channel ``agent:status``; each message is one JSON object::

    {"type": "agent.status", "agent_id": "<uuid>", "old": "active", "new": "maintenance",
     "at": "2026-11-23T16:00:00.123456+00:00", "origin": "<host>:<pid>:<boot>"}

Pub/sub is fire-and-forget: subscribers that are not connected miss the message (the database
stays the source of truth). Publishing happens after the surrounding transaction commits, so
nobody hears about a change that was rolled back; a Redis outage is logged (throttled), never
raised. Operators watch it with ``manage.py listen agent:status``.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from apps.platform.cache import channel_publish, publisher_origin

AGENT_STATUS_CHANNEL = "agent:status"


def agent_status_message(agent_id: Any, old: str | None, new: str) -> dict[str, Any]:
    return {"type": "agent.status", "agent_id": str(agent_id), "old": old, "new": new,
            "at": timezone.now().isoformat(), "origin": publisher_origin()}


def agent_status_publish(agent_id: Any, old: str | None, new: str) -> None:
    """Publish an agent's status change on `agent:status` once the transaction commits."""
    channel_publish(AGENT_STATUS_CHANNEL, json.dumps(agent_status_message(agent_id, old, new)),
                    what="publish agent status")
