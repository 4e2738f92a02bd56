"""Celery work started by a service once its transaction commits, without importing the task module.

A task module imports the services it wraps; a service that imported the task module back would
close a cycle (dodged before with function-level imports). A service names the task instead:
Celery publishes by name and the worker runs the task it registered under that name, with the
options (retries, time limits, acks_late) the task declares. Routing by name
(`CELERY_TASK_ROUTES`, `agency/celery.py`) applies as it does to `delay`.

Nothing is published inside a transaction that could still roll back: a worker would otherwise
look for a row that never committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction


def enqueue_on_commit(name: str, *, kwargs: dict[str, Any] | None = None, queue: str | None = None,
                      task_id: str | None = None) -> str:
    """Publish task `name` with `kwargs` after commit (at once outside a transaction); returns its id.

    The id is chosen here so that a caller can store it on its own record before the commit.
    """
    task_id = task_id or str(uuid.uuid4())
    options: dict[str, Any] = {"task_id": task_id}
    if queue:
        options["queue"] = queue
    transaction.on_commit(lambda: current_app.send_task(name, kwargs=dict(kwargs or {}), **options))
    return task_id


def run_inline_or_enqueue(*, inline: bool, run: Callable[..., Any], name: str,
                          kwargs: dict[str, Any], queue: str | None = None) -> str | None:
    """After commit, either call `run(**kwargs)` in this process or publish task `name` with the same kwargs.

    The one rule for work that is quick on small inputs and long on big ones (an index build):
    the caller decides `inline` from the size, and both paths take the same arguments, so the
    task is a thin wrapper over `run`. Returns the task id when it was enqueued.
    """
    if inline:
        transaction.on_commit(lambda: run(**kwargs))
        return None
    return enqueue_on_commit(name, kwargs=kwargs, queue=queue)
