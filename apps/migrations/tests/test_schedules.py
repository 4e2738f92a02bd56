"""The default beat schedules come from a reversible data migration that owns exactly its rows, and
the rename of the schema app's task names (`agency.ops.*` -> `agency.schema.*`) is another one."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from agency.celery import app
from apps.migrations import task_names

pytestmark = pytest.mark.django_db

migration = importlib.import_module("apps.migrations.migrations.0002_default_schedules")
rename = importlib.import_module("apps.migrations.migrations.0003_schema_task_names")
# the default schedules as 0003 leaves them: 0002's names with the `schema: ` prefix
SCHEDULES = [name.replace("ops: ", "schema: ") for name in migration.SCHEDULES]


class _Editor:
    connection = connection


def test_default_schedules_are_installed_by_the_migration():
    owned_elsewhere = ["tasks: reap expired leases", "audit: flush access log"]
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__in=[*SCHEDULES, *owned_elsewhere])}
    assert set(tasks) == {*SCHEDULES, *owned_elsewhere}
    assert tasks["schema: nightly maintenance"].task == "agency.schema.maintain"
    assert tasks["schema: nightly maintenance"].crontab.hour == "2"
    assert tasks["schema: daily backup"].queue == "maintenance"
    assert tasks["schema: daily backup"].task == "agency.schema.backup"
    assert tasks["schema: retention purge"].task == "agency.schema.purge_retention"
    assert tasks["cache: warm"].interval.every == 300
    assert tasks["tasks: reap expired leases"].interval.every == 60
    assert tasks["audit: flush access log"].task == "agency.audit.flush_access_log"
    assert all(t.enabled for t in tasks.values())


def test_reverse_removes_exactly_its_schedules_and_forward_reinstalls_them():
    rename.backwards(global_apps, _Editor())  # the database as 0002 left it
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    PeriodicTask.objects.create(name="an operator's own schedule", task="agency.ops.maintain", interval=every_hour)
    migration.uninstall(global_apps, _Editor())
    assert not PeriodicTask.objects.filter(name__in=list(migration.SCHEDULES)).exists()
    assert PeriodicTask.objects.filter(name="an operator's own schedule").exists()
    migration.install(global_apps, _Editor())
    migration.install(global_apps, _Editor())  # idempotent
    assert PeriodicTask.objects.filter(name__in=list(migration.SCHEDULES)).count() == len(migration.SCHEDULES)


def _tasks() -> dict[str, str]:
    return dict(PeriodicTask.objects.values_list("name", "task"))


def test_task_rename_is_reversible_and_covers_every_schedule_of_the_old_tasks():
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    PeriodicTask.objects.create(name="an operator's own schedule", task="agency.schema.verify_backup",
                                interval=every_hour)
    PeriodicTask.objects.create(name="not ours", task="agency.opsx.maintain", interval=every_hour)
    after = _tasks()
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": "2000-01-01T00:00:00Z"})

    rename.backwards(global_apps, _Editor())
    before = _tasks()
    assert before["ops: nightly maintenance"] == "agency.ops.maintain"
    assert before["ops: daily backup"] == "agency.ops.backup"
    assert before["ops: retention purge"] == "agency.ops.purge_retention"
    assert before["an operator's own schedule"] == "agency.ops.verify_backup"
    assert not [t for t in before.values() if t.startswith("agency.schema.")]
    assert before["cache: warm"] == after["cache: warm"] == "agency.cache.warm"  # other apps' rows untouched
    assert before["not ours"] == "agency.opsx.maintain"
    assert PeriodicTasks.last_change().year > 2000  # beat reloads its schedule

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": "2000-01-01T00:00:00Z"})
    rename.forwards(global_apps, _Editor())
    assert _tasks() == after
    assert PeriodicTasks.last_change().year > 2000
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": "2000-01-01T00:00:00Z"})
    rename.forwards(global_apps, _Editor())  # nothing left to rename: beat is not disturbed
    assert _tasks() == after and PeriodicTasks.last_change().year == 2000


def test_task_rename_keeps_an_operators_schedule_that_already_has_the_new_name():
    rename.backwards(global_apps, _Editor())
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=3600, period="seconds")
    PeriodicTask.objects.create(name="schema: daily backup", task="agency.ops.backup", interval=every_hour)
    rename.forwards(global_apps, _Editor())
    tasks = _tasks()
    assert tasks["schema: daily backup"] == tasks["ops: daily backup"] == "agency.schema.backup"
    assert PeriodicTask.objects.get(name="schema: daily backup").interval == every_hour


def test_schema_tasks_are_registered_and_routed_to_the_maintenance_queue():
    app.loader.import_default_modules()
    names = ("agency.schema.maintain", "agency.schema.backup", "agency.schema.verify_backup",
             "agency.schema.purge_retention")
    assert names == task_names.ALL
    for name in names:
        task = app.tasks[name]
        assert task.queue == "maintenance" and task.acks_late and task.reject_on_worker_lost
        assert task.time_limit and task.soft_time_limit
        assert app.amqp.router.route({}, name)["queue"].name == "maintenance"  # also when sent by name
    assert not [name for name in app.tasks if name.startswith("agency.ops.")]
    assert app.conf.task_serializer == "json" and app.conf.result_backend == "django-db"
    assert {q.name for q in app.conf.task_queues} == {"default", "maintenance"}


def test_beat_can_compute_every_default_schedule():
    for task in PeriodicTask.objects.filter(name__in=SCHEDULES):
        remaining = task.schedule.remaining_estimate(task.last_run_at or task.date_changed)
        assert remaining.total_seconds() <= 24 * 3600, task.name
