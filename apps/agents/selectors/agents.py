"""Reads of agents: lists for the API, one agent through the row cache, and its performance summary.

Every read takes the caller's tenant (`tenant_id`, from apps.tenants.selectors.request_tenant_id;
None only for an operator across tenants). The row cache is keyed by id alone, so `agent_get`
checks the tenant of whatever row it got, cached or not: another tenant's agent is "does not
exist" (404), exactly as a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from apps.agents.models import Agent
from apps.common.errors import NotFound
from apps.platform.cache import instance_get
from apps.tasks.selectors import task_stats


def agent_list(*, tenant_id: int | None) -> QuerySet[Agent]:
    agents = Agent.objects.all()
    return agents if tenant_id is None else agents.filter(tenant_id=tenant_id)


def agent_status_counts(*, tenant_id: int | None = None) -> dict[str, int]:
    """Agents per status (one GROUP BY), for the admin dashboard's card (all tenants unless one is named)."""
    rows = agent_list(tenant_id=tenant_id).values("status").annotate(n=Count("pk")).order_by("status")
    return {row["status"]: row["n"] for row in rows}


def agent_get(*, agent_id: Any, tenant_id: int | None) -> Agent:
    """One agent by id through the row cache; 404 naming the id when missing or of another tenant."""
    try:
        agent = instance_get(Agent, agent_id)
    except Agent.DoesNotExist:
        agent = None
    if agent is None or (tenant_id is not None and agent.tenant_id != tenant_id):
        raise NotFound(f"agent {agent_id} does not exist", details={"field": "id"})
    return agent


def agent_stats(*, agent_id: Any, tenant_id: int | None) -> dict[str, Any]:
    """Tasks by status, success rate, mean and p95 duration, last activity (see `task_stats`); 404 if unknown."""
    agent = agent_get(agent_id=agent_id, tenant_id=tenant_id)
    return {"agent_id": str(agent.pk), **task_stats(tenant_id=agent.tenant_id, agent_id=agent.pk)}
