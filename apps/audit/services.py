"""Writes of the audit app: buffering and flushing the access log, and retention."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import RedisError

from apps.audit.models import AccessLog

logger = logging.getLogger(__name__)

BUFFER_KEY = "agency:audit:access-log"


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


@transaction.atomic
def access_log_flush(*, batch_size: int = 5000) -> int:
    """Move buffered lines into AccessLog with bulk inserts; returns how many rows were written.

    Lines are popped only after the insert is prepared, inside one transaction per batch, so a
    crash between pop and commit loses at most one batch of log lines, never application data.
    """
    conn = get_redis_connection("default")
    written = 0
    while True:
        pipe = conn.pipeline(transaction=True)
        pipe.lrange(BUFFER_KEY, 0, batch_size - 1)
        pipe.ltrim(BUFFER_KEY, batch_size, -1)
        raw, _ = pipe.execute()
        if not raw:
            return written
        rows = []
        for line in raw:
            data = json.loads(line)
            data["timestamp"] = datetime.fromisoformat(data["timestamp"])
            rows.append(AccessLog(**data))
        AccessLog.objects.bulk_create(rows, batch_size=1000)
        written += len(rows)


def audit_purge(*, days: int | None = None) -> dict[str, int]:
    """Delete change history and access log older than the retention period (days).

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
    return {"log_entries": log_entries, "access_log": access, "retention_days": keep}
