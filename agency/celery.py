"""The Celery application: Redis broker, settings under CELERY_ in Django settings, tasks autodiscovered."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")

app = Celery("agency")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("maintenance"))
app.autodiscover_tasks()
