"""Numbers for the admin dashboard: one cheap query per card, each from the app's public selectors."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from apps.agents.selectors import agent_status_counts
from apps.embeddings.selectors.collections import collection_totals
from apps.migrations.selectors import backup_status_counts
from apps.platform.health import health_report
from apps.tasks.selectors import task_status_counts


def _card(title: str, admin_url: str, breakdown: dict[str, int] | None = None, total: int | None = None
          ) -> dict[str, Any]:
    try:
        url = reverse(admin_url)
    except NoReverseMatch:
        url = None  # not registered in the admin
    breakdown = breakdown or {}
    return {"title": title, "total": sum(breakdown.values()) if total is None else total,
            "breakdown": breakdown, "url": url}


def dashboard_cards() -> list[dict[str, Any]]:
    collections, embeddings = collection_totals()
    return [
        _card("Agents", "admin:agents_agent_changelist", agent_status_counts()),
        _card("Tasks", "admin:tasks_task_changelist", task_status_counts()),
        _card("Collections", "admin:embeddings_collection_changelist", total=collections),
        _card("Embeddings", "admin:embeddings_embedding_changelist", total=embeddings),
        _card("Backups", "admin:schema_backup_changelist", backup_status_counts()),
    ]


def dashboard_context() -> dict[str, Any]:
    return {"health": health_report(), "cards": dashboard_cards()}
