"""Agent status notifications on Redis pub/sub (the transport is `apps.platform.cache.pubsub`).

Channel ``agent:status`` (every tenant's changes: operators) and ``agent:status:<tenant id>``
(one tenant's, for anything that relays events to that tenant only); each message is one JSON
object::

    {"type": "agent.status", "agent_id": "<uuid>", "tenant_id": 1, "old": "active", "new": "maintenance",
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


def agent_status_channel(tenant_id: int) -> str:
    """The channel that carries only tenant `tenant_id`'s status changes."""
    return f"{AGENT_STATUS_CHANNEL}:{tenant_id}"


def agent_status_message(agent_id: Any, old: str | None, new: str, *, tenant_id: int | None = None,
                         ) -> dict[str, Any]:
    return {"type": "agent.status", "agent_id": str(agent_id), "tenant_id": tenant_id, "old": old, "new": new,
            "at": timezone.now().isoformat(), "origin": publisher_origin()}


def agent_status_publish(agent_id: Any, old: str | None, new: str, *, tenant_id: int | None = None) -> None:
    """Publish an agent's status change on `agent:status` (and its tenant's channel) once the transaction commits."""
    message = json.dumps(agent_status_message(agent_id, old, new, tenant_id=tenant_id))
    channel_publish(AGENT_STATUS_CHANNEL, message, what="publish agent status")
    if tenant_id is not None:
        channel_publish(agent_status_channel(tenant_id), message, what="publish agent status")
