"""Celery tasks of the queue: the reaper that beat runs every minute or so."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.tasks.services import task_reap_expired_leases


@shared_task(
    name="agency.tasks.reap_expired_leases", queue="default", acks_late=True,
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
    soft_time_limit=120, time_limit=180,
)
def reap_expired_leases_task() -> dict[str, int]:
    """Return expired leases to the queue; idempotent, so overlapping or repeated runs are harmless."""
    return task_reap_expired_leases()
