"""Reads of the schema app's records (backups, maintenance and migration runs) for the API, the admin and the services."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, QuerySet

from apps.common.errors import NotFound
from apps.migrations.models import Backup, MaintenanceRun, MigrationRun


def backup_list() -> QuerySet[Backup]:
    return Backup.objects.select_related("requested_by").order_by("-created_at")


def backup_get(*, backup_id: Any) -> Backup:
    """The backup `backup_id` (a UUID or its text); `NotFound` for a malformed or unknown id."""
    try:
        return Backup.objects.get(pk=uuid.UUID(str(backup_id)))
    except (ValueError, Backup.DoesNotExist):
        raise NotFound(f"backup {backup_id!r} does not exist", code="backup_not_found") from None


def backup_status_counts() -> dict[str, int]:
    """Backups per status (one GROUP BY), for the admin dashboard's card."""
    rows = Backup.objects.values("status").annotate(n=Count("pk")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def maintenance_run_list() -> QuerySet[MaintenanceRun]:
    return MaintenanceRun.objects.select_related("requested_by").order_by("-created_at")


def maintenance_run_get(*, run_id: Any) -> MaintenanceRun:
    """The maintenance run `run_id` (a UUID or its text); `NotFound` for a malformed or unknown id."""
    try:
        return MaintenanceRun.objects.get(pk=uuid.UUID(str(run_id)))
    except (ValueError, MaintenanceRun.DoesNotExist):
        raise NotFound(f"maintenance run {run_id!r} does not exist", code="run_not_found") from None


def migration_run_list() -> QuerySet[MigrationRun]:
    return MigrationRun.objects.select_related("requested_by", "backup").order_by("-created_at")
