"""The Celery application: Redis broker, settings under CELERY_ in Django settings, tasks autodiscovered.

Two queues: `default` (request-driven work) and `maintenance` (backups, VACUUM, reindex...), so a
long backup never delays short tasks; run a worker per queue to isolate them fully. Delivery is
at-least-once (acks_late + reject_on_worker_lost, set in settings): every task must be idempotent.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")

app = Celery("agency")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("maintenance"))
app.conf.task_default_queue = "default"
# Operations go to the maintenance queue even when a caller forgets to name it.
app.conf.task_routes = {"agency.ops.*": {"queue": "maintenance"}}
app.autodiscover_tasks()
