"""Records of the operator's work: backups, maintenance runs and schema migration runs.

Each record is written by a service before the work starts (status `pending`/`running`) and
completed after it, so the admin and the API always show what is happening and what happened,
including jobs that were skipped because another one held the lock.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.common.models import BaseModel


class RunStatus(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    SKIPPED = "skipped", "skipped"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SKIPPED)


class Run(BaseModel):
    """What every operation record shares: who asked, when it ran, how long, how it ended."""

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150, blank=True, help_text="user, OS account or 'celery beat'")
    task_id = models.CharField(max_length=64, blank=True, db_index=True, help_text="Celery task id, when enqueued")
    attempts = models.PositiveIntegerField(default=0, help_text="times a worker started this run")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class Backup(Run):
    """One `pg_dump -Fc` file, its checksum and the manifest (row counts, checksums) it must restore to."""

    class Kind(models.TextChoices):
        DAILY = "daily", "daily"
        WEEKLY = "weekly", "weekly"
        MANUAL = "manual", "manual"

    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.MANUAL, db_index=True)
    database = models.CharField(max_length=128, blank=True)
    file_path = models.CharField(max_length=1024, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    server_version = models.CharField(max_length=32, blank=True)
    pg_dump_version = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True, help_text="row counts and checksums at dump time")
    expired_at = models.DateTimeField(null=True, blank=True, help_text="file removed by the retention policy")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_ok = models.BooleanField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)

    class Meta(Run.Meta):
        indexes = [models.Index(fields=["kind", "status", "-created_at"], name="schema_backup_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} backup {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class MaintenanceRun(Run):
    """ANALYZE / VACUUM / REINDEX of vector indexes, and the size/usage report gathered with them."""

    options = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    report = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"maintenance {self.created_at:%Y-%m-%d %H:%M} ({self.status})"


class MigrationRun(Run):
    """A schema migration or rollback (or a rehearsal of one): the plan, the outcome, the backup taken."""

    class Action(models.TextChoices):
        MIGRATE = "migrate", "migrate"
        ROLLBACK = "rollback", "rollback"

    action = models.CharField(max_length=16, choices=Action.choices, default=Action.MIGRATE)
    dry_run = models.BooleanField(default=False)
    target = models.CharField(max_length=255, blank=True, help_text="app and migration, or empty for all")
    plan = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True)
    backup = models.ForeignKey(Backup, null=True, blank=True, on_delete=models.SET_NULL, related_name="migration_runs")

    def __str__(self) -> str:
        dry = " (dry run)" if self.dry_run else ""
        return f"{self.action}{dry} {self.created_at:%Y-%m-%d %H:%M} ({self.status})"
