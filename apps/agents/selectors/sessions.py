"""Reads of agent sessions (see `apps.agents.session_store` for where they live)."""

from __future__ import annotations

import json
from typing import Any

from apps.agents.selectors.agents import agent_get
from apps.agents.session_store import REDIS_ERRORS, session_key, session_redis, session_unavailable
from apps.common.errors import NotFound


def session_agent_check(*, agent_id: Any, tenant_id: int | None) -> None:
    """404 (naming `agent_id`) unless the agent exists in the caller's tenant.

    Session keys are `session:<agent id>` with no tenant in them (agent ids are unique across
    tenants, and a key format change would drop every live session): every session read and write
    checks the agent's tenant first, through the row cache.
    """
    try:
        agent_get(agent_id=agent_id, tenant_id=tenant_id)
    except NotFound as exc:
        raise NotFound(exc.message, details={"agent_id": str(agent_id)}) from None


def session_get(*, agent_id: Any, tenant_id: int | None) -> dict[str, Any]:
    """The agent's session with the seconds it has left (`ttl`); 404 when it has none, 503 with Redis down."""
    session_agent_check(agent_id=agent_id, tenant_id=tenant_id)
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
