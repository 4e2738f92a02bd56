"""Reads of the ops records for the API and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.migrations.models import Backup, MaintenanceRun, MigrationRun


def backup_list() -> QuerySet[Backup]:
    return Backup.objects.select_related("requested_by").order_by("-created_at")


def maintenance_run_list() -> QuerySet[MaintenanceRun]:
    return MaintenanceRun.objects.select_related("requested_by").order_by("-created_at")


def migration_run_list() -> QuerySet[MigrationRun]:
    return MigrationRun.objects.select_related("requested_by", "backup").order_by("-created_at")
