"""Admin: warming rules (with "warm now"), stats snapshots (read-only) with a current-stats card."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.cache import services
from apps.cache.models import CacheStatsSnapshot, WarmingRule


@admin.register(WarmingRule)
class WarmingRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "model_label", "key_pattern", "ttl", "priority", "enabled", "updated_at"]
    list_filter = ["enabled", "model_label"]
    search_fields = ["name", "model_label", "key_pattern"]
    ordering = ["-priority", "name"]
    actions = ["warm_now"]

    @admin.action(description="Warm the cache now (most-read keys matching enabled rules)")
    def warm_now(self, request, queryset) -> None:
        result = services.cache_warm()
        self.message_user(request, f"Cache warmed: {result}", messages.SUCCESS)


@admin.register(CacheStatsSnapshot)
class CacheStatsSnapshotAdmin(admin.ModelAdmin):
    list_display = ["created_at", "hit_rate_pct", "l1_hits", "l1_misses", "l2_hits", "l2_misses", "l1_evictions",
                    "l2_evictions", "key_count", "redis_up"]
    list_filter = ["redis_up", "created_at"]
    search_fields = ["id"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in CacheStatsSnapshot._meta.fields if f.name != "details"] + ["details_pretty"]
    exclude = ["details"]
    actions = ["capture_now"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="hit rate", ordering="hit_rate")
    def hit_rate_pct(self, obj: CacheStatsSnapshot) -> str:
        return f"{obj.hit_rate:.1%}"

    @admin.display(description="details")
    def details_pretty(self, obj: CacheStatsSnapshot) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True, default=str))

    @admin.action(description="Capture a snapshot now")
    def capture_now(self, request, queryset) -> None:
        snapshot = services.stats_snapshot_create()
        self.message_user(request, f"Captured {snapshot}", messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "cache_stats": services.cache_stats()}
        return super().changelist_view(request, extra_context=extra_context)
