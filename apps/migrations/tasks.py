"""Celery tasks of the schema app: thin wrappers that take ids, call a service and return a summary.

Their names are in `apps.migrations.task_names`. All go to the `maintenance` queue, acknowledge
late (a killed worker's task is delivered again) and are idempotent: a run record that is already
finished is returned as it is.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from apps.common.errors import NotFound
from apps.migrations import task_names
from apps.migrations.services.backups import backup_create, backup_verify
from apps.migrations.services.guard import LockNotAcquired
from apps.migrations.services.maintenance import maintenance_run
from apps.migrations.services.retention import retention_purge

COMMON = {"queue": task_names.QUEUE, "acks_late": True, "reject_on_worker_lost": True, "retry_backoff": True}


def _summary(run: Any, **extra: Any) -> dict[str, Any]:
    out = {"id": str(run.pk), "status": run.status, "attempts": run.attempts, "duration_seconds": run.duration_seconds}
    if run.error:
        out["error"] = run.error
    return {**out, **extra}


@shared_task(bind=True, name=task_names.MAINTAIN, max_retries=10, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300,
             **COMMON)
def maintenance_run_task(self, run_id: str | None = None, **options: Any) -> dict[str, Any] | None:
    """Nightly maintenance (beat calls it without arguments), or the pending run `run_id`."""
    try:
        run = maintenance_run(run_id=run_id, actor="celery", **options)
    except NotFound:
        return None
    except LockNotAcquired as exc:
        # A redelivered run whose previous worker died: its lock lapses within AGENCY_SCHEMA_LOCK_TTL.
        raise self.retry(exc=exc, countdown=settings.AGENCY_SCHEMA_LOCK_TTL) from None
    return _summary(run, actions=len(run.report.get("actions", [])) if run.report else 0)


@shared_task(name=task_names.BACKUP, max_retries=3, autoretry_for=(ConnectionError,), soft_time_limit=6 * 3600,
             time_limit=6 * 3600 + 300, **COMMON)
def backup_create_task(backup_id: str | None = None, kind: str = "auto") -> dict[str, Any] | None:
    """The scheduled backup (weekly on AGENCY_BACKUP_WEEKLY_DAY, daily otherwise), or the pending `backup_id`."""
    try:
        backup = backup_create(backup_id=backup_id, kind=kind, actor="celery")
    except NotFound:
        return None
    return _summary(backup, kind=backup.kind, file=backup.file_path, size_bytes=backup.size_bytes)


@shared_task(name=task_names.VERIFY_BACKUP, max_retries=3, autoretry_for=(ConnectionError,),
             soft_time_limit=6 * 3600, time_limit=6 * 3600 + 300, **COMMON)
def backup_verify_task(backup_id: str) -> dict[str, Any] | None:
    try:
        backup = backup_verify(backup_id=backup_id)
    except NotFound:
        return None
    return {"id": str(backup.pk), "verified_at": backup.verified_at.isoformat(), "ok": backup.verification_ok,
            "mismatches": backup.verification.get("mismatches", [])}


@shared_task(name=task_names.PURGE_RETENTION, max_retries=3, autoretry_for=(ConnectionError,), soft_time_limit=1800,
             time_limit=2100, **COMMON)
def retention_purge_task(days: int | None = None) -> dict[str, int]:
    return retention_purge(days=days)
