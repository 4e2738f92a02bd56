"""The schema app's tasks through a real Celery worker on the real Redis broker, and at-least-once delivery:
a worker killed with SIGKILL mid-task gets its task delivered again, and the effect happens once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from agency.celery import app
from apps.migrations.models import Backup, MaintenanceRun, RunStatus
from apps.migrations.services import postgres
from apps.migrations.services.guard import MAINTENANCE_LOCK
from apps.migrations.services.maintenance import maintenance_request
from apps.migrations.tasks import maintenance_run_task, retention_purge_task
from apps.migrations.tests.conftest import VECTOR_TABLE
from apps.migrations.tests.factories import MaintenanceRunFactory
from apps.platform.cache import distributed_lock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def wait_for(predicate, timeout: float = 90, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate.__doc__ or predicate}")


def finished(model, pk):
    def check():
        obj = model.objects.get(pk=pk)
        return obj if obj.is_finished else None

    return check


def test_backup_started_from_the_api_runs_on_the_worker(celery_worker, operator_client):
    body = operator_client.post("/api/v1/backups/", {"kind": "manual"}, format="json").json()
    backup = wait_for(finished(Backup, body["run_id"]))
    assert backup.status == RunStatus.SUCCEEDED, backup.error
    assert Path(backup.file_path).is_file() and backup.sha256 and backup.attempts == 1
    result = wait_for(lambda: TaskResult.objects.filter(task_id=body["task_id"], status="SUCCESS").first())
    assert result.task_name == "agency.schema.backup" and str(backup.pk) in result.result

    body = operator_client.post(f"/api/v1/backups/{backup.pk}/verify/").json()
    wait_for(lambda: TaskResult.objects.filter(task_id=body["task_id"], status="SUCCESS").first())
    backup.refresh_from_db()
    assert backup.verification_ok is True and backup.verified_at is not None


def test_maintenance_started_from_the_api_runs_on_the_worker(celery_worker, operator_client):
    body = operator_client.post("/api/v1/maintenance-runs/start/", {"reindex": False}, format="json").json()
    run = wait_for(finished(MaintenanceRun, body["run_id"]))
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.report["tables"] and run.report["options"]["reindex"] is False


def test_a_scheduled_maintenance_skips_while_another_holds_the_lock(celery_worker):
    with distributed_lock(MAINTENANCE_LOCK, timeout=60):
        result = maintenance_run_task.apply_async(kwargs={"analyze": True, "vacuum": False, "reindex": False})
        summary = result.get(timeout=60)
    assert summary["status"] == "skipped" and summary["error"] == "skipped: lock held"
    assert MaintenanceRun.objects.get(pk=summary["id"]).status == RunStatus.SKIPPED


def _start_worker(queue: str, name: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings.test",
           "DATABASE_URL": postgres.ConnInfo.current().url(),
           "AGENCY_CELERY_VISIBILITY_TIMEOUT": "5", "AGENCY_SCHEMA_LOCK_TTL": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "agency", "worker", "-Q", queue, "-P", "solo",
         "--hostname", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=settings.BASE_DIR, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not [r for r in app.control.ping(timeout=0.5) if any(k.startswith(f"{name}@") for k in r)]:
        assert proc.poll() is None and time.monotonic() < deadline, f"worker {name} did not start; see {log}"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_task_whose_worker_is_killed_is_delivered_again_and_takes_effect_once(vector_table, tmp_path):
    """The run blocks on a table the test keeps locked, the worker is SIGKILLed, the lock released;
    a fresh worker gets the unacknowledged message back (visibility timeout 5 s) and completes the
    same run record once; a duplicate delivery afterwards changes nothing."""
    queue = f"schema-kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    run = maintenance_request(analyze=True, vacuum=False, reindex=False, tables=[VECTOR_TABLE])
    blocker = psycopg.connect(postgres.ConnInfo.current().dsn())
    blocker.execute(f"LOCK TABLE {VECTOR_TABLE} IN ACCESS EXCLUSIVE MODE")
    first = _start_worker(queue, f"doomed-{queue}", log)
    second = None
    try:
        task_id = str(uuid.uuid4())
        maintenance_run_task.apply_async(kwargs={"run_id": str(run.pk)}, queue=queue, task_id=task_id)

        def started():
            """the first worker to start the run"""
            return MaintenanceRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=1).exists()

        wait_for(started, timeout=60)
        time.sleep(0.5)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        blocker.rollback()
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING and run.finished_at is None  # died mid-task

        # kombu's Redis transport restores unacknowledged messages older than the visibility timeout
        # when a consumer starts (then only every ~100 s): start the fresh worker once it has passed.
        time.sleep(6)
        second = _start_worker(queue, f"fresh-{queue}", log)
        run = wait_for(finished(MaintenanceRun, run.pk), timeout=200)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert run.attempts == 2  # delivered again after the kill...
        assert MaintenanceRun.objects.count() == 1  # ...into the same record
        done = run.finished_at

        duplicate = maintenance_run_task.apply_async(kwargs={"run_id": str(run.pk)}, queue=queue)
        assert duplicate.get(timeout=60)["status"] == "succeeded"
        run.refresh_from_db()
        assert run.finished_at == done and run.attempts == 2  # the effect happened once
    finally:
        blocker.close()
        _stop(first)
        if second is not None:
            _stop(second)


def test_retention_purge_runs_on_the_worker(celery_worker):
    old = MaintenanceRunFactory()
    MaintenanceRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=100))
    kept = MaintenanceRunFactory()
    summary = retention_purge_task.delay(days=90).get(timeout=60)
    assert summary["maintenance_runs"] == 1
    assert list(MaintenanceRun.objects.values_list("pk", flat=True)) == [kept.pk]
