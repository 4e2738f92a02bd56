"""Numbers for the admin dashboard: one cheap query per card, no cross-app joins."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Count
from django.urls import NoReverseMatch, reverse

from apps.platform.health import health_report

# (title, model label, field grouped by or None for a plain count)
CARDS = [
    ("Agents", "agents.Agent", "status"),
    ("Tasks", "tasks.Task", "status"),
    ("Collections", "embeddings.Collection", None),
    ("Embeddings", "embeddings.Embedding", None),
    ("Backups", "schema.Backup", "status"),
]


def dashboard_cards() -> list[dict[str, Any]]:
    cards = []
    for title, label, group_by in CARDS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if group_by:
            rows = model._default_manager.values(group_by).annotate(n=Count("pk")).order_by(group_by)
            breakdown = {row[group_by]: row["n"] for row in rows}
            total = sum(breakdown.values())
        else:
            breakdown, total = {}, model._default_manager.count()
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            url = None  # not registered in the admin
        cards.append({"title": title, "total": total, "breakdown": breakdown, "url": url})
    return cards


def dashboard_context() -> dict[str, Any]:
    return {"health": health_report(), "cards": dashboard_cards()}
