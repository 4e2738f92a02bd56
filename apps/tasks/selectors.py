"""Reads of the task queue: history lists, one task by id (through the row cache), and per-agent figures.

The per-agent reads (`task_active_count`, `task_stats`) are the queue's public answer to the
agents app, which uses them instead of querying the tasks table itself (agents → tasks only).

Every read takes the caller's tenant (`tenant_id`; None only for an operator across tenants) and
filters by it; another tenant's task is "does not exist". The row cache is keyed by id only, so
`task_get` checks the tenant of the row it got, cached or not.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet

from apps.common.errors import NotFound
from apps.platform.cache import instance_get
from apps.tasks.models import Task, TaskStatus


def task_list(*, tenant_id: int | None) -> QuerySet[Task]:
    tasks = Task.objects.all()
    return tasks if tenant_id is None else tasks.filter(tenant_id=tenant_id)


def task_status_counts(*, tenant_id: int | None = None) -> dict[str, int]:
    """Tasks per status (one GROUP BY), for the admin dashboard's card (all tenants unless one is named)."""
    rows = task_list(tenant_id=tenant_id).values("status").annotate(n=Count("pk")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def task_get(*, task_id: Any, tenant_id: int | None) -> Task:
    """One task through the row cache; 404 when missing or of another tenant (checked after the cache)."""
    try:
        task = instance_get(Task, task_id)
    except Task.DoesNotExist:
        task = None
    if task is None or (tenant_id is not None and task.tenant_id != tenant_id):
        raise NotFound(f"task {task_id} does not exist", details={"field": "id"})
    return task


def task_active_count(*, tenant_id: int, agent_id: Any) -> int:
    """How many of the agent's tasks are pending or running (served by `tasks_tenant_agent_status_idx`)."""
    return Task.objects.filter(tenant_id=tenant_id, agent_id=agent_id,
                               status__in=[TaskStatus.PENDING, TaskStatus.RUNNING]).count()


_STATS_SQL = f"""
SELECT
    count(*) FILTER (WHERE status = 'pending')   AS pending,
    count(*) FILTER (WHERE status = 'running')   AS running,
    count(*) FILTER (WHERE status = 'completed') AS completed,
    count(*) FILTER (WHERE status = 'failed')    AS failed,
    count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
    count(*)                                     AS total,
    avg(extract(epoch FROM finished_at - started_at)) FILTER (WHERE status = 'completed') AS mean_s,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
        FILTER (WHERE status = 'completed')      AS p95_s,
    max(updated_at)                              AS last_activity
FROM {Task._meta.db_table}
WHERE tenant_id = %s AND agent_id = %s
"""


def task_stats(*, tenant_id: int, agent_id: Any) -> dict[str, Any]:
    """An agent's tasks by status, success rate, mean and p95 duration, last activity: one SQL aggregate.

    Success rate is completed / (completed + failed): pending, running and cancelled tasks have
    no outcome yet (or never will) and would only dilute it. Durations are claim → completion of
    completed tasks, in seconds. Computed in PostgreSQL (FILTER aggregates + percentile_cont) so
    the cost does not grow in Python with the agent's history.
    """
    with connection.cursor() as cur:
        cur.execute(_STATS_SQL, [tenant_id, agent_id])
        row = cur.fetchone()
    pending, running, completed, failed, cancelled, total, mean_s, p95_s, last = row
    finished = completed + failed
    return {
        "tasks_by_status": {
            "pending": pending, "running": running, "completed": completed,
            "failed": failed, "cancelled": cancelled,
        },
        "total": total,
        "success_rate": (completed / finished) if finished else None,
        "mean_duration_seconds": float(mean_s) if mean_s is not None else None,
        "p95_duration_seconds": float(p95_s) if p95_s is not None else None,
        "last_activity": last.isoformat() if last else None,
    }
