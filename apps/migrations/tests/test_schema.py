"""The migration service: plan, rehearse, apply, roll back, each recorded; and every app's migrations
go forward, back to zero and forward again on a database with data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django_celery_beat.models import PeriodicTask

from apps.migrations.models import Backup, MigrationRun, RunStatus
from apps.migrations.services import postgres
from apps.migrations.services.schema import schema_plan

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULE = "schema: nightly maintenance"


def _applied() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).applied_migrations())


def test_rollback_plan_rehearse_and_migrate_are_recorded(capsys):
    assert schema_plan() == []
    try:
        call_command("schema_rollback", "schema", "0001", "--no-backup")
        rollback = MigrationRun.objects.get(action=MigrationRun.Action.ROLLBACK)
        assert rollback.status == RunStatus.SUCCEEDED and rollback.target == "schema 0001_initial"
        assert [(p["app"], p["name"], p["backwards"]) for p in rollback.plan] == [
            ("schema", "0003_schema_task_names", True), ("schema", "0002_default_schedules", True)]
        assert rollback.actor and rollback.duration_seconds is not None
        assert not PeriodicTask.objects.filter(name=SCHEDULE).exists()

        capsys.readouterr()
        call_command("schema_plan")
        out = capsys.readouterr().out
        assert "schema.0002_default_schedules" in out and "schema.0003_schema_task_names" in out
        assert "2 unapplied migration" in out

        call_command("schema_migrate", "--dry-run", "--no-backup")
        rehearsal = MigrationRun.objects.get(dry_run=True)
        assert rehearsal.status == RunStatus.SUCCEEDED, rehearsal.error
        assert "would apply 2 migration" in rehearsal.output and "Applying schema.0002" in rehearsal.output
        assert "Applying schema.0003" in rehearsal.output
        assert ("schema", "0002_default_schedules") not in _applied()  # nothing changed
        assert not PeriodicTask.objects.filter(name=SCHEDULE).exists()
        assert not [d for d in _databases() if d.startswith("agency_rehearse_")]

        call_command("schema_migrate")
        run = MigrationRun.objects.get(action=MigrationRun.Action.MIGRATE, dry_run=False)
        assert run.status == RunStatus.SUCCEEDED and run.backup is not None
        assert run.backup.status == RunStatus.SUCCEEDED and os.path.exists(run.backup.file_path)
        assert {("schema", "0002_default_schedules"), ("schema", "0003_schema_task_names")} <= _applied()
        assert PeriodicTask.objects.get(name=SCHEDULE).task == "agency.schema.maintain"
    finally:
        call_command("migrate", "schema", verbosity=0)


def _databases() -> list[str]:
    with postgres.autocommit_connection() as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database")]


@pytest.mark.parametrize(("args", "message"), [
    (["schema", "nope"], "app 'schema' has no migration named 'nope'"),
    (["nosuchapp", "0001"], "app 'nosuchapp' has no migrations"),
    (["schema", "0003_schema_task_names"], None),  # the latest: nothing to roll back
])
def test_bad_rollback_targets_are_clear_errors_and_change_nothing(args, message):
    applied = _applied()
    if message:
        with pytest.raises(CommandError, match=message):
            call_command("schema_rollback", *args, "--no-backup")
        assert not MigrationRun.objects.exists()
    else:
        call_command("schema_rollback", *args, "--no-backup")
        assert "nothing to roll back" in MigrationRun.objects.get().output
    assert _applied() == applied
    assert not Backup.objects.exists()


def test_migrate_with_nothing_to_apply_is_recorded_without_a_backup():
    call_command("schema_migrate")
    run = MigrationRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.plan == [] and run.backup is None
    assert "nothing to apply" in run.output


def test_every_app_migrates_forward_to_zero_and_forward_again_with_data():
    """In a scratch database and a separate process: zero drops every table the session relies on."""
    scratch = f"agency_roundtrip_{os.getpid()}"
    postgres.database_drop(scratch)
    postgres.database_create(scratch)
    try:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings.test",
               "DATABASE_URL": postgres.ConnInfo.current().using(scratch).url()}
        proc = subprocess.run([sys.executable, "-m", "apps.migrations.tests.migration_roundtrip"], env=env,
                              cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        postgres.database_drop(scratch)
    assert "schema" in result["labels"] and "common" in result["labels"]
    assert result["created"].get("schema.Backup") == 3 and result["created"].get("schema.MigrationRun") == 3
    assert result["tables_left_at_zero"] == []
    assert result["pending_after"] == []
    assert result["survivor"] is True
    assert "schema_backup" in result["project_tables"]
