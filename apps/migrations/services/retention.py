"""Retention: the audit log and the schema app's run records do not grow forever."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.audit.services import audit_purge
from apps.migrations.models import Backup, MaintenanceRun, MigrationRun


def retention_purge(*, days: int | None = None) -> dict[str, int]:
    """Delete audit history and access log, maintenance/migration runs and expired backup records older than `days`.

    Backup records whose file is still kept are never deleted: they are the catalogue of the files.
    """
    days = settings.AGENCY_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    audit = audit_purge(days=days)
    deleted = {
        "auditlog_entries": audit["log_entries"],
        "access_log": audit["access_log"],
        "maintenance_runs": MaintenanceRun.objects.filter(created_at__lt=cutoff).delete()[0],
        "migration_runs": MigrationRun.objects.filter(created_at__lt=cutoff).delete()[0],
        "backups": Backup.objects.filter(created_at__lt=cutoff).exclude(status="succeeded", expired_at__isnull=True)
        .delete()[0],
    }
    return {"days": days, **deleted}
