"""Install the default beat schedules (editable in the admin); the reverse removes exactly these.

Upkeep runs without an operator: maintenance nightly, a backup daily, cache warming every five
minutes and the retention purge daily. (The task-lease reaper's and the access-log flush's
schedules belong to their own apps' migrations.)
"""

from django.db import migrations

# name -> (task, queue, schedule); schedule is ("crontab", minute, hour) or ("interval", seconds)
SCHEDULES = {
    "ops: nightly maintenance": ("agency.ops.maintain", "maintenance", ("crontab", "30", "2")),
    "ops: daily backup": ("agency.ops.backup", "maintenance", ("crontab", "0", "1")),
    "ops: retention purge": ("agency.ops.purge_retention", "maintenance", ("crontab", "0", "4")),
    "cache: warm": ("agency.cache.warm", "default", ("interval", 300)),
}


def install(apps, schema_editor):
    db = schema_editor.connection.alias
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for name, (task, queue, schedule) in SCHEDULES.items():
        fields = {"task": task, "queue": queue, "enabled": True, "interval": None, "crontab": None}
        if schedule[0] == "crontab":
            fields["crontab"], _ = CrontabSchedule.objects.using(db).get_or_create(
                minute=schedule[1], hour=schedule[2], day_of_week="*", day_of_month="*", month_of_year="*",
                timezone="UTC",
            )
        else:
            fields["interval"], _ = IntervalSchedule.objects.using(db).get_or_create(
                every=schedule[1], period="seconds"
            )
        PeriodicTask.objects.using(db).update_or_create(name=name, defaults=fields)


def uninstall(apps, schema_editor):
    db = schema_editor.connection.alias
    apps.get_model("django_celery_beat", "PeriodicTask").objects.using(db).filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("schema", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
