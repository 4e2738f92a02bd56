"""Reads of the task queue: history lists and one task by id (through the row cache)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.cache.services import instance_get
from apps.common.errors import NotFound
from apps.tasks.models import Task


def task_list() -> QuerySet[Task]:
    return Task.objects.all()


def task_get(*, task_id: Any) -> Task:
    try:
        return instance_get(Task, task_id)
    except Task.DoesNotExist:
        raise NotFound(f"task {task_id} does not exist", details={"field": "id"}) from None
