"""The Celery application: Redis broker, settings under CELERY_ in Django settings, tasks autodiscovered.

Two queues: `default` (request-driven work) and `maintenance` (backups, VACUUM, reindex...), so a
long backup never delays short tasks; run a worker per queue to isolate them fully. Delivery is
at-least-once (acks_late + reject_on_worker_lost, set in settings): every task must be idempotent.
"""

import os

from celery import Celery
from kombu import Queue

from apps.migrations import task_names as schema_task_names

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")

app = Celery("agency")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("maintenance"))
app.conf.task_default_queue = "default"
# The schema app's tasks (backups, maintenance...) go to the maintenance queue even when a caller
# forgets to name it.
app.conf.task_routes = {f"{schema_task_names.PREFIX}*": {"queue": schema_task_names.QUEUE}}
app.autodiscover_tasks()
