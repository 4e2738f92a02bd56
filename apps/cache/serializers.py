"""Shapes of the cache API on the wire. Type checks here; rules (patterns, TTLs) in services."""

from __future__ import annotations

from rest_framework import serializers

from apps.cache.models import CacheStatsSnapshot, WarmingRule


class WarmingRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = WarmingRule
        fields = ["id", "name", "model_label", "key_pattern", "ttl", "priority", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is checked by the service's full_clean (one place, same message for admin and API).
        extra_kwargs = {"name": {"validators": []}}


class CacheStatsSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = CacheStatsSnapshot
        fields = ["id", "created_at", "l1_hits", "l1_misses", "l2_hits", "l2_misses", "hit_rate", "l1_evictions",
                  "l2_evictions", "key_count", "loads", "errors", "redis_up", "details"]
        read_only_fields = fields


class InvalidateSerializer(serializers.Serializer):
    """Exactly one of tags, pattern or keys."""

    tags = serializers.ListField(child=serializers.CharField(allow_blank=False), required=False, allow_empty=False)
    pattern = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    keys = serializers.ListField(child=serializers.CharField(allow_blank=False), required=False, allow_empty=False)
    allow_all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        given = [name for name in ("tags", "pattern", "keys") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError({"non_field_errors": ["give exactly one of tags, pattern or keys"]})
        return attrs


class WarmSerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
