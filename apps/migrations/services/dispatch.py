"""Enqueue operations for a worker: a pending record to poll, then the task once the record is committed."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from apps.common.errors import ValidationFailed
from apps.migrations.models import Backup, MaintenanceRun, RunStatus
from apps.migrations.services.backups import backup_get, backup_request
from apps.migrations.services.maintenance import maintenance_request


@transaction.atomic
def backup_enqueue(*, requested_by: Any, kind: str = Backup.Kind.MANUAL) -> Backup:
    from apps.migrations.tasks import backup_create_task

    backup = backup_request(kind=kind, requested_by=requested_by)
    backup.task_id = str(uuid.uuid4())
    backup.save(update_fields=["task_id", "updated_at"])
    backup_create_task.apply_async_on_commit(kwargs={"backup_id": str(backup.pk)}, task_id=backup.task_id)
    return backup


@transaction.atomic
def backup_verify_enqueue(*, backup_id: Any, requested_by: Any) -> tuple[Backup, str]:
    """Enqueue a verification; the backup must be a completed one whose file is kept."""
    from apps.migrations.tasks import backup_verify_task

    backup = backup_get(backup_id)
    if backup.status != RunStatus.SUCCEEDED or backup.expired_at:
        raise ValidationFailed(f"backup {backup.pk} cannot be verified: it is {backup.status}"
                               f"{' and expired' if backup.expired_at else ''}", code="backup_not_completed")
    task_id = str(uuid.uuid4())
    backup_verify_task.apply_async_on_commit(kwargs={"backup_id": str(backup.pk)}, task_id=task_id)
    return backup, task_id


@transaction.atomic
def maintenance_enqueue(*, requested_by: Any, **options: Any) -> MaintenanceRun:
    from apps.migrations.tasks import maintenance_run_task

    run = maintenance_request(requested_by=requested_by, **options)
    run.task_id = str(uuid.uuid4())
    run.save(update_fields=["task_id", "updated_at"])
    maintenance_run_task.apply_async_on_commit(kwargs={"run_id": str(run.pk)}, task_id=run.task_id)
    return run
