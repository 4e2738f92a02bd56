"""Reads of agents: lists for the API, one agent through the row cache, and its performance summary."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from apps.agents.models import Agent
from apps.common.errors import NotFound
from apps.platform.cache import instance_get
from apps.tasks.selectors import task_stats


def agent_list() -> QuerySet[Agent]:
    return Agent.objects.all()


def agent_status_counts() -> dict[str, int]:
    """Agents per status (one GROUP BY), for the admin dashboard's card."""
    rows = Agent.objects.values("status").annotate(n=Count("pk")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def agent_get(*, agent_id: Any) -> Agent:
    """One agent by id through the row cache; 404 naming the id when missing."""
    try:
        return instance_get(Agent, agent_id)
    except Agent.DoesNotExist:
        raise NotFound(f"agent {agent_id} does not exist", details={"field": "id"}) from None


def agent_stats(*, agent_id: Any) -> dict[str, Any]:
    """Tasks by status, success rate, mean and p95 duration, last activity (see `task_stats`); 404 if unknown."""
    agent = agent_get(agent_id=agent_id)
    return {"agent_id": str(agent.pk), **task_stats(agent_id=agent.pk)}
