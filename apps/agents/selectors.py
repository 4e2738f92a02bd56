"""Reads of agents: lists for the API and the performance summary of one agent."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import QuerySet

from apps.agents.models import Agent
from apps.cache.services import instance_get
from apps.common.errors import NotFound


def agent_list() -> QuerySet[Agent]:
    return Agent.objects.all()


def agent_get(*, agent_id: Any) -> Agent:
    """One agent by id through the row cache; 404 naming the id when missing."""
    try:
        return instance_get(Agent, agent_id)
    except Agent.DoesNotExist:
        raise NotFound(f"agent {agent_id} does not exist", details={"field": "id"}) from None


_STATS_SQL = """
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
FROM tasks_task
WHERE agent_id = %s
"""


def agent_stats(*, agent_id: Any) -> dict[str, Any]:
    """Tasks by status, success rate, mean and p95 duration, last activity: one SQL aggregate.

    Success rate is completed / (completed + failed): pending, running and cancelled tasks have
    no outcome yet (or never will) and would only dilute it. Durations are claim → completion of
    completed tasks, in seconds. Computed in PostgreSQL (FILTER aggregates + percentile_cont) so
    the cost does not grow in Python with the agent's history.
    """
    agent = agent_get(agent_id=agent_id)
    with connection.cursor() as cur:
        cur.execute(_STATS_SQL, [agent.pk])
        row = cur.fetchone()
    pending, running, completed, failed, cancelled, total, mean_s, p95_s, last = row
    finished = completed + failed
    return {
        "agent_id": str(agent.pk),
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
