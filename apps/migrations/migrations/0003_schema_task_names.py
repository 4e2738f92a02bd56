"""Rename the beat schedules' tasks from `agency.ops.*` to `agency.schema.*` (issue #12); reversible.

The tasks now carry the app label. Beat stores the task name of each schedule in its database
row, so every `PeriodicTask` naming one of the four old tasks is renamed, whoever created it (the
defaults of 0002 or an operator's own schedule); any other row is left alone. The default
schedules' own names move from the `ops: ` prefix to `schema: `, like `cache: warm` and
`tasks: reap expired leases`, unless a row already has the new name. The reverse does exactly the
opposite, so `migrate schema 0002` leaves a database the code before the rename schedules.

The names are written out here, not imported from `apps.migrations.task_names`: a migration
must keep doing what it did when it was written.

Beat (DatabaseScheduler) reloads its schedule when `PeriodicTasks.last_update` changes; a save
through the real model does that by signal, which historical models in a migration do not send,
so the migration bumps it itself when it changed a row. django-celery-results rows keep the name
each task ran under.
"""

from django.db import migrations
from django.utils import timezone

OLD_PREFIX, NEW_PREFIX = "agency.ops.", "agency.schema."
TASKS = ("maintain", "backup", "verify_backup", "purge_retention")
SCHEDULES = ("nightly maintenance", "daily backup", "retention purge")
OLD_NAME, NEW_NAME = "ops: ", "schema: "


def _rename(apps, schema_editor, *, task_from: str, task_to: str, name_from: str, name_to: str) -> None:
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    changed = 0
    for task in TASKS:
        changed += PeriodicTask.objects.using(db).filter(task=task_from + task).update(task=task_to + task)
    for schedule in SCHEDULES:
        if not PeriodicTask.objects.using(db).filter(name=name_to + schedule).exists():
            changed += PeriodicTask.objects.using(db).filter(name=name_from + schedule).update(name=name_to + schedule)
    if changed:
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.using(db).update_or_create(
            ident=1, defaults={"last_update": timezone.now()})


def forwards(apps, schema_editor):
    _rename(apps, schema_editor, task_from=OLD_PREFIX, task_to=NEW_PREFIX, name_from=OLD_NAME, name_to=NEW_NAME)


def backwards(apps, schema_editor):
    _rename(apps, schema_editor, task_from=NEW_PREFIX, task_to=OLD_PREFIX, name_from=NEW_NAME, name_to=OLD_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("schema", "0002_default_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
