"""Reads of the cache app's own tables."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.cache.models import CacheStatsSnapshot, WarmingRule
from apps.common.errors import NotFound
from apps.platform.cache import instance_get


def warming_rule_list() -> QuerySet[WarmingRule]:
    return WarmingRule.objects.all()


def warming_rule_get(*, rule_id: str) -> WarmingRule:
    """By id through the row cache (a rule is read by every warm run)."""
    try:
        return instance_get(WarmingRule, uuid.UUID(str(rule_id)))
    except (ValueError, WarmingRule.DoesNotExist):
        raise NotFound(f"warming rule {rule_id} does not exist") from None


def stats_snapshot_list() -> QuerySet[CacheStatsSnapshot]:
    return CacheStatsSnapshot.objects.all()
