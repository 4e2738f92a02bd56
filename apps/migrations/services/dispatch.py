"""Enqueue work for a worker: a pending record to poll, then the task once the record is committed.

The tasks are named (`apps.migrations.task_names`), not imported: the task module imports these
services, so importing it back would close a cycle. The queue is the one the tasks declare.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.common.errors import ValidationFailed
from apps.migrations import task_names
from apps.migrations.models import Backup, MaintenanceRun, RunStatus
from apps.migrations.selectors import backup_get
from apps.migrations.services.backups import backup_request
from apps.migrations.services.maintenance import maintenance_request
from apps.platform.jobs import enqueue_on_commit


@transaction.atomic
def backup_enqueue(*, requested_by: Any, kind: str = Backup.Kind.MANUAL) -> Backup:
    """A pending backup record carrying the id of the task that will complete it after commit."""
    backup = backup_request(kind=kind, requested_by=requested_by)
    backup.task_id = enqueue_on_commit(task_names.BACKUP, kwargs={"backup_id": str(backup.pk)},
                                       queue=task_names.QUEUE)
    backup.save(update_fields=["task_id", "updated_at"])
    return backup


@transaction.atomic
def backup_verify_enqueue(*, backup_id: Any, requested_by: Any) -> tuple[Backup, str]:
    """Enqueue a verification; the backup must be a completed one whose file is kept."""
    backup = backup_get(backup_id=backup_id)
    if backup.status != RunStatus.SUCCEEDED or backup.expired_at:
        raise ValidationFailed(f"backup {backup.pk} cannot be verified: it is {backup.status}"
                               f"{' and expired' if backup.expired_at else ''}", code="backup_not_completed")
    task_id = enqueue_on_commit(task_names.VERIFY_BACKUP, kwargs={"backup_id": str(backup.pk)},
                                queue=task_names.QUEUE)
    return backup, task_id


@transaction.atomic
def maintenance_enqueue(*, requested_by: Any, **options: Any) -> MaintenanceRun:
    """A pending maintenance run carrying the id of the task that will perform it after commit."""
    run = maintenance_request(requested_by=requested_by, **options)
    run.task_id = enqueue_on_commit(task_names.MAINTAIN, kwargs={"run_id": str(run.pk)}, queue=task_names.QUEUE)
    run.save(update_fields=["task_id", "updated_at"])
    return run
