"""Reads of agent sessions (see `apps.agents.session_store` for where they live)."""

from __future__ import annotations

import json
from typing import Any

from apps.agents.session_store import REDIS_ERRORS, session_key, session_redis, session_unavailable
from apps.common.errors import NotFound


def session_get(*, agent_id: Any) -> dict[str, Any]:
    """The agent's session with the seconds it has left (`ttl`); 404 when it has none, 503 with Redis down."""
    try:
        pipe = session_redis().pipeline(transaction=False)
        pipe.get(session_key(agent_id))
        pipe.pttl(session_key(agent_id))
        raw, ttl_ms = pipe.execute()
    except REDIS_ERRORS as exc:
        raise session_unavailable(exc) from exc
    if raw is None:
        raise NotFound(f"agent {agent_id} has no session", code="not_found")
    doc = json.loads(raw)
    return {"agent_id": str(agent_id), **doc, "ttl": max(0, round(ttl_ms / 1000)) if ttl_ms and ttl_ms > 0 else None}
