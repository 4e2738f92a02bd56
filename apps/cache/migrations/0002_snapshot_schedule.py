"""Beat schedule for the periodic cache statistics snapshot (editable in the admin)."""

from django.db import migrations

NAME = "cache: stats snapshot"


def install(apps, schema_editor):
    db = schema_editor.connection.alias
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_5_min, _ = IntervalSchedule.objects.using(db).get_or_create(every=300, period="seconds")
    PeriodicTask.objects.using(db).update_or_create(
        name=NAME,
        defaults={"task": "agency.cache.snapshot_stats", "interval": every_5_min, "queue": "default",
                  "enabled": True, "description": "Save hit/miss/eviction counters for trends."},
    )


def uninstall(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(schema_editor.connection.alias).filter(
        name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cache", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
