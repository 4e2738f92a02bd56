"""The default beat schedules come from a reversible data migration that owns exactly its rows."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from agency.celery import app

pytestmark = pytest.mark.django_db

migration = importlib.import_module("apps.migrations.migrations.0002_default_schedules")


class _Editor:
    connection = connection


def test_default_schedules_are_installed_by_the_migration():
    owned_elsewhere = ["tasks: reap expired leases", "audit: flush access log"]
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=[*migration.SCHEDULES, *owned_elsewhere])}
    assert set(tasks) == {*migration.SCHEDULES, *owned_elsewhere}
    assert tasks["ops: nightly maintenance"].task == "agency.ops.maintain"
    assert tasks["ops: nightly maintenance"].crontab.hour == "2"
    assert tasks["ops: daily backup"].queue == "maintenance"
    assert tasks["ops: retention purge"].task == "agency.ops.purge_retention"
    assert tasks["cache: warm"].interval.every == 300
    assert tasks["tasks: reap expired leases"].interval.every == 60
    assert tasks["audit: flush access log"].task == "agency.audit.flush_access_log"
    assert all(t.enabled for t in tasks.values())


def test_reverse_removes_exactly_its_schedules_and_forward_reinstalls_them():
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    PeriodicTask.objects.create(name="an operator's own schedule", task="agency.ops.maintain", interval=every_hour)
    migration.uninstall(global_apps, _Editor())
    assert not PeriodicTask.objects.filter(name__in=list(migration.SCHEDULES)).exists()
    assert PeriodicTask.objects.filter(name="an operator's own schedule").exists()
    migration.install(global_apps, _Editor())
    migration.install(global_apps, _Editor())  # idempotent
    assert PeriodicTask.objects.filter(name__in=list(migration.SCHEDULES)).count() == len(migration.SCHEDULES)


def test_ops_tasks_are_registered_and_routed_to_the_maintenance_queue():
    app.loader.import_default_modules()
    for name in ("agency.ops.maintain", "agency.ops.backup", "agency.ops.verify_backup", "agency.ops.purge_retention"):
        task = app.tasks[name]
        assert task.queue == "maintenance" and task.acks_late and task.reject_on_worker_lost
        assert task.time_limit and task.soft_time_limit
    assert app.conf.task_serializer == "json" and app.conf.result_backend == "django-db"
    assert {q.name for q in app.conf.task_queues} == {"default", "maintenance"}


def test_beat_can_compute_every_default_schedule():
    for task in PeriodicTask.objects.filter(name__in=list(migration.SCHEDULES)):
        remaining = task.schedule.remaining_estimate(task.last_run_at or task.date_changed)
        assert remaining.total_seconds() <= 24 * 3600, task.name
