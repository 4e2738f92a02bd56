"""Writes of agent sessions: create/replace, merge (extends the TTL), end.

See `apps.agents.session_store` for where sessions live and why only in Redis. Each write takes the
caller's tenant and checks first that the agent is in it (`session_agent_check`: 404 otherwise),
since the Redis key names the agent only.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from apps.agents.selectors.sessions import session_agent_check
from apps.agents.session_store import REDIS_ERRORS, session_key, session_redis, session_unavailable
from apps.common.errors import NotFound, ValidationFailed
from apps.common.validation import check_json_object, check_size


def _check(data: Any, ttl: Any) -> int:
    """400 for data that is not a JSON object or a TTL out of range, 413 when data alone is too large."""
    check_json_object("data", data, limit=settings.AGENCY_AGENT_SESSION_MAX_BYTES)
    if ttl is None:
        return settings.AGENCY_AGENT_SESSION_TTL
    limit = settings.AGENCY_AGENT_SESSION_MAX_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= limit:
        raise ValidationFailed(f"ttl: must be an integer number of seconds between 1 and {limit}, got {ttl!r}",
                               code="invalid_ttl")
    return ttl


def _encode(doc: dict[str, Any]) -> str:
    """The stored document; 413 (naming `data`) when it is over the limit once merged and stamped."""
    body = json.dumps(doc, separators=(",", ":"))
    check_size("data", len(body.encode()), settings.AGENCY_AGENT_SESSION_MAX_BYTES)
    return body


def session_put(*, agent_id: Any, tenant_id: int | None, data: dict[str, Any], ttl: int | None = None,
                ) -> dict[str, Any]:
    """Create or replace the session (created_at kept when replacing)."""
    session_agent_check(agent_id=agent_id, tenant_id=tenant_id)
    ttl = _check(data, ttl)
    key, now = session_key(agent_id), timezone.now().isoformat()
    try:
        r = session_redis()
        old = r.get(key)
        created = json.loads(old)["created_at"] if old else now
        r.set(key, _encode({"data": data, "created_at": created, "updated_at": now}), ex=ttl)
    except REDIS_ERRORS as exc:
        raise session_unavailable(exc) from exc
    return {"agent_id": str(agent_id), "data": data, "created_at": created, "updated_at": now, "ttl": ttl}


def session_update(*, agent_id: Any, tenant_id: int | None, data: dict[str, Any], ttl: int | None = None,
                   ) -> dict[str, Any]:
    """Merge `data` into an existing session (keys set to null are removed) and extend its TTL.

    Optimistic (WATCH/MULTI): a concurrent update makes this one retry, so no merge is lost.
    """
    session_agent_check(agent_id=agent_id, tenant_id=tenant_id)
    ttl = _check(data, ttl)
    key = session_key(agent_id)
    try:
        with session_redis().pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        pipe.unwatch()
                        raise NotFound(f"agent {agent_id} has no session", code="not_found")
                    doc = json.loads(raw)
                    merged = {**doc["data"], **data}
                    doc["data"] = {k: v for k, v in merged.items() if v is not None}
                    doc["updated_at"] = timezone.now().isoformat()
                    body = _encode(doc)
                    pipe.multi()
                    pipe.set(key, body, ex=ttl)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
    except REDIS_ERRORS as exc:
        raise session_unavailable(exc) from exc
    return {"agent_id": str(agent_id), **doc, "ttl": ttl}


def session_end(*, agent_id: Any, tenant_id: int | None) -> None:
    """Delete the session; 404 when there was none."""
    session_agent_check(agent_id=agent_id, tenant_id=tenant_id)
    try:
        deleted = session_redis().delete(session_key(agent_id))
    except REDIS_ERRORS as exc:
        raise session_unavailable(exc) from exc
    if not deleted:
        raise NotFound(f"agent {agent_id} has no session", code="not_found")
