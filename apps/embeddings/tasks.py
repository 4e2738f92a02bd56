"""Celery tasks of the embeddings app: thin wrappers of the index services (ids in, idempotent)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.embeddings.services.indexes import (
    BUILD_QUEUE,
    BUILD_TASK,
    SETTLED_BUILD_TASK,
    collection_index_build,
    collection_index_build_settled,
    embeddings_analyze,
)


@shared_task(name=BUILD_TASK, queue=BUILD_QUEUE, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def collection_index_build_task(collection_id: str, reindex: bool = False) -> str:
    """(Re)build a collection's index CONCURRENTLY; a deleted collection is a quiet no-op."""
    collection = collection_index_build(collection_id=collection_id, reindex=reindex)
    return "gone" if collection is None else collection.index_status


@shared_task(name=SETTLED_BUILD_TASK, queue=BUILD_QUEUE, bind=True, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60)
def collection_index_build_settled_task(self, collection_id: str, written_at: str) -> str:
    """The rebuild after bulk API batches: once they settle (the service decides), else check again later."""
    outcome, wait = collection_index_build_settled(collection_id=collection_id, written_at=written_at)
    if outcome == "wait":
        self.apply_async(kwargs={"collection_id": collection_id, "written_at": written_at}, countdown=wait)
    return outcome


@shared_task(name="agency.embeddings.analyze", queue="maintenance", acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=1800, time_limit=1860)
def embeddings_analyze_task() -> None:
    embeddings_analyze()
