"""Agent sessions: `session:{agent_id}` JSON in Redis with a TTL.

A session is scratch state an agent keeps between steps (conversation id, cursor…), not data of
record: it lives only in Redis and expires unless touched. Update merges keys and extends the TTL.
The value stored is ``{"data": {...}, "created_at": iso, "updated_at": iso}``.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from apps.cache.backend import REDIS_ERRORS
from apps.cache.services.core import get_cache
from apps.common.errors import NotFound, PayloadTooLarge, ServiceUnavailable, ValidationFailed


def session_key(agent_id: Any) -> str:
    return f"session:{agent_id}"


def _check(data: Any, ttl: Any) -> int:
    if not isinstance(data, dict):
        raise ValidationFailed(f"data: must be a JSON object, got {type(data).__name__}", code="invalid")
    if ttl is None:
        return settings.AGENCY_AGENT_SESSION_TTL
    limit = settings.AGENCY_AGENT_SESSION_MAX_TTL
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= limit:
        raise ValidationFailed(f"ttl: must be an integer number of seconds between 1 and {limit}, got {ttl!r}",
                               code="invalid_ttl")
    return ttl


def _encode(doc: dict[str, Any]) -> str:
    body = json.dumps(doc, separators=(",", ":"))
    limit = settings.AGENCY_AGENT_SESSION_MAX_BYTES
    if len(body.encode()) > limit:
        raise PayloadTooLarge(f"data: session is {len(body.encode())} bytes, over the limit of {limit}")
    return body


def _redis() -> redis.Redis:
    return get_cache().redis


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    get_cache().errors.report("agent session", exc)
    return ServiceUnavailable("the session store (Redis) is unavailable", code="unavailable")


def _view(agent_id: Any, raw: bytes | str | None, ttl_ms: int) -> dict[str, Any]:
    if raw is None:
        raise NotFound(f"agent {agent_id} has no session", code="not_found")
    doc = json.loads(raw)
    return {"agent_id": str(agent_id), **doc, "ttl": max(0, round(ttl_ms / 1000)) if ttl_ms and ttl_ms > 0 else None}


def session_get(*, agent_id: Any) -> dict[str, Any]:
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.get(session_key(agent_id))
        pipe.pttl(session_key(agent_id))
        raw, ttl_ms = pipe.execute()
    except REDIS_ERRORS as exc:
        raise _unavailable(exc) from exc
    return _view(agent_id, raw, ttl_ms)


def session_put(*, agent_id: Any, data: dict[str, Any], ttl: int | None = None) -> dict[str, Any]:
    """Create or replace the session (created_at kept when replacing)."""
    ttl = _check(data, ttl)
    key, now = session_key(agent_id), timezone.now().isoformat()
    try:
        r = _redis()
        old = r.get(key)
        created = json.loads(old)["created_at"] if old else now
        r.set(key, _encode({"data": data, "created_at": created, "updated_at": now}), ex=ttl)
    except REDIS_ERRORS as exc:
        raise _unavailable(exc) from exc
    return {"agent_id": str(agent_id), "data": data, "created_at": created, "updated_at": now, "ttl": ttl}


def session_update(*, agent_id: Any, data: dict[str, Any], ttl: int | None = None) -> dict[str, Any]:
    """Merge `data` into an existing session (keys set to null are removed) and extend its TTL.

    Optimistic (WATCH/MULTI): a concurrent update makes this one retry, so no merge is lost.
    """
    ttl = _check(data, ttl)
    key = session_key(agent_id)
    try:
        with _redis().pipeline(transaction=True) as pipe:
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
        raise _unavailable(exc) from exc
    return {"agent_id": str(agent_id), **doc, "ttl": ttl}


def session_end(*, agent_id: Any) -> None:
    try:
        deleted = _redis().delete(session_key(agent_id))
    except REDIS_ERRORS as exc:
        raise _unavailable(exc) from exc
    if not deleted:
        raise NotFound(f"agent {agent_id} has no session", code="not_found")
