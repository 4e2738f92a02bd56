"""Writes of the audit app: the audit trail (`audit_record`), buffering and flushing the access log, retention."""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import LockError, RedisError

from apps.audit.context import current_actor
from apps.audit.models import AccessLog, AuditEntry

logger = logging.getLogger(__name__)

BUFFER_KEY = "agency:audit:access-log"
# Refused requests that come in floods (bad or revoked credentials, throttled clients): at flush time
# identical lines of one minute become one row with `hits`, so a flood costs no more database rows
# than a trickle. 403 and 404 lines stay one row each: they come from authenticated callers, who
# are throttled, and each may matter on its own.
COLLAPSED_STATUSES = frozenset({401, 429})
_ACTOR_TENANT: Any = object()


def audit_record(*, action: str, target: Any = None, target_type: str = "", target_id: Any = "",
                 target_repr: str = "", tenant_id: int | None = _ACTOR_TENANT,
                 data: dict[str, Any] | None = None) -> AuditEntry:
    """Record one write as one audit entry: the actor (from `apps.audit.context`), the tenant, what was done.

    Called by the services inside the transaction of the write they record, so the entry commits
    and rolls back with it: no entry for a write that did not happen, no write without its entry.
    One INSERT whatever the write's size (a batch of 500 items is one entry with its counts).

    `target` is the model instance written (its type, id and str are taken from it, and its
    `tenant_id` when it has one); `tenant_id` may be given instead, None for an operator-wide
    action; left out, it is the acting key's tenant.
    """
    actor = current_actor()
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
        if tenant_id is _ACTOR_TENANT and hasattr(target, "tenant_id"):
            tenant_id = target.tenant_id
    if tenant_id is _ACTOR_TENANT:
        tenant_id = actor.tenant_id
    return AuditEntry.objects.create(
        tenant_id=tenant_id, actor_kind=actor.kind, actor=actor.label, actor_key_id=actor.key_id,
        actor_user_id=actor.user_id, action=action[:64], target_type=target_type[:100],
        target_id=str(target_id or "")[:100], target_repr=str(target_repr)[:200], data=data or {},
        remote_addr=actor.remote_addr, request_id=actor.request_id,
    )


def access_log_buffer(entry: dict[str, Any]) -> None:
    """Queue one request line in Redis; never fails the request (a Redis outage drops the line)."""
    try:
        conn = get_redis_connection("default")
        pipe = conn.pipeline(transaction=False)
        pipe.rpush(BUFFER_KEY, json.dumps(entry, default=str))
        pipe.ltrim(BUFFER_KEY, -settings.AGENCY_ACCESS_LOG_BUFFER_MAX, -1)  # bounded if no flusher runs
        pipe.execute()
    except RedisError:
        logger.debug("access log line dropped: Redis unavailable")


# Moves up to ARGV[1] lines from the buffer (KEYS[1]) to the processing list (KEYS[2]) in one step,
# so every line is in exactly one of the two lists at every moment (RPUSH in chunks: Lua's unpack
# takes a few thousand values at most).
_MOVE_BATCH = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for i = 1, #items, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
end
redis.call('LTRIM', KEYS[1], #items, -1)
return #items
"""
# Longer than the flush task's hard time limit (apps/audit/tasks.py): a flusher killed holding the
# lock releases it by expiry, and the next one finds its batch in the processing list.
FLUSH_LOCK_SECONDS = 300


def access_log_flush(*, batch_size: int = 5000) -> int:
    """Move buffered lines into AccessLog with bulk inserts; returns how many rows were written.

    Identical 401/429 lines of one minute are written as one row counting them (`hits`).

    No window where a failure drops lines (move, then delete after commit): a batch is moved
    atomically from the buffer to a processing list, inserted in its own transaction, and deleted
    from Redis only after that transaction committed. If the insert fails (the database refuses,
    the worker dies) the batch stays in the processing list, and the next flush writes it first,
    skipping rows already committed (a crash between the commit and the delete), so each line is
    written once. One flusher at a time (a Redis lock; a second one returns 0). Call it outside a
    transaction (the Celery task does): inside one, "committed" would only mean its savepoint.
    The request path is unchanged: one pipelined RPUSH + LTRIM (`access_log_buffer`).
    """
    conn = get_redis_connection("default")
    processing = f"{BUFFER_KEY}:processing"
    lock = conn.lock(f"{BUFFER_KEY}:flush-lock", timeout=FLUSH_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return 0
    try:
        written = 0
        stale = conn.lrange(processing, 0, -1)  # left by a flush that failed before its delete
        if stale:
            written += _write_batch(conn, processing, stale, recovering=True)
        move = conn.register_script(_MOVE_BATCH)
        while move(keys=[BUFFER_KEY, processing], args=[batch_size]):
            written += _write_batch(conn, processing, conn.lrange(processing, 0, -1))
        return written
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _write_batch(conn: Any, processing: str, raw: list[bytes], *, recovering: bool = False) -> int:
    """Insert one moved batch in its own transaction, then delete it from Redis; returns the rows written."""
    rows = _collapse([json.loads(line) for line in raw])
    if recovering:
        rows = _not_yet_written(rows)
    with transaction.atomic():
        AccessLog.objects.bulk_create(rows, batch_size=1000)
    conn.delete(processing)
    return len(rows)


def _not_yet_written(rows: list[AccessLog]) -> list[AccessLog]:
    """The rows of a recovered batch that no committed row matches (timestamp to the microsecond and line).

    Only a flush that committed and then failed to delete its batch leaves matches; the lookup uses
    the timestamp index and runs only when recovering.
    """
    if not rows:
        return rows
    stamps = [r.timestamp for r in rows]
    existing = set(AccessLog.objects.filter(timestamp__gte=min(stamps), timestamp__lte=max(stamps))
                   .values_list("timestamp", "method", "path", "status_code", "duration_ms"))
    return [r for r in rows if (r.timestamp, r.method, r.path, r.status_code, r.duration_ms) not in existing]


def _collapse(lines: list[dict[str, Any]]) -> list[AccessLog]:
    """AccessLog rows for buffered lines; identical refused lines (COLLAPSED_STATUSES) of a minute become one."""
    rows: list[AccessLog] = []
    collapsed: dict[tuple, AccessLog] = {}
    for data in lines:
        data["timestamp"] = datetime.fromisoformat(data["timestamp"])
        if data.get("status_code") in COLLAPSED_STATUSES:
            key = (data["timestamp"].replace(second=0, microsecond=0), data.get("status_code"), data.get("method"),
                   data.get("path"), data.get("error_code"), data.get("key_prefix"), data.get("username"),
                   data.get("tenant_id"), data.get("remote_addr"))
            row = collapsed.get(key)
            if row is not None:
                row.hits += 1
                continue
            row = collapsed[key] = AccessLog(**data)
            rows.append(row)
        else:
            rows.append(AccessLog(**data))
    return rows


def audit_purge(*, days: int | None = None) -> dict[str, int]:
    """Delete change history, the audit trail and the access log older than the retention period (days).

    Called by the schema app's daily retention purge (`agency.schema.purge_retention`), which also
    purges its own run records.
    """
    keep = settings.AGENCY_RETENTION_DAYS if days is None else days
    if keep < 1:
        raise ValueError("retention must keep at least one day")
    cutoff = timezone.now() - timedelta(days=keep)
    with transaction.atomic():
        log_entries, _ = LogEntry.objects.filter(timestamp__lt=cutoff).delete()
        access, _ = AccessLog.objects.filter(timestamp__lt=cutoff).delete()
        trail, _ = AuditEntry.objects.filter(timestamp__lt=cutoff).delete()
    return {"log_entries": log_entries, "access_log": access, "audit_entries": trail, "retention_days": keep}
