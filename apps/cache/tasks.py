"""Celery tasks of the cache app: thin wrappers around services (scheduled by the operations issue)."""

from __future__ import annotations

from celery import shared_task

from apps.cache import services


@shared_task(name="agency.cache.warm", queue="default", acks_late=True, autoretry_for=(ConnectionError,),
             retry_backoff=True, max_retries=3, soft_time_limit=240, time_limit=300)
def cache_warm_task(limit: int | None = None) -> dict[str, int]:
    """Load the most-read rows into L2. Idempotent: keys already present are skipped."""
    return services.cache_warm(limit=limit)


@shared_task(name="agency.cache.snapshot_stats", queue="default", acks_late=True, autoretry_for=(ConnectionError,),
             retry_backoff=True, max_retries=3, soft_time_limit=50, time_limit=60)
def stats_snapshot_task() -> str:
    """Persist cluster-wide cache counters for trends."""
    return str(services.stats_snapshot_create().id)
