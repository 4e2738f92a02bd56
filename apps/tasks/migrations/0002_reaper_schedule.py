"""The reaper's schedule, in the database so operators can change it in the admin (django-celery-beat)."""

from django.db import migrations

NAME = "tasks: reap expired leases"


def create_schedule(apps, schema_editor):
    db = schema_editor.connection.alias
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.using(db).get_or_create(every=60, period="seconds")
    PeriodicTask.objects.using(db).update_or_create(
        name=NAME,
        defaults={"task": "agency.tasks.reap_expired_leases", "interval": every_minute, "queue": "default",
                  "enabled": True, "description": "Return tasks whose worker lease expired to the queue."},
    )


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(schema_editor.connection.alias).filter(
        name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create_schedule, drop_schedule)]
