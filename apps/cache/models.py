"""What operators need beyond Redis's lifetime: warming rules and periodic stats snapshots."""

from __future__ import annotations

import fnmatch
import re

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.common.models import BaseModel


class WarmingRule(BaseModel):
    """Which of the most-read keys `cache_warm` loads into L2, and with which TTL.

    A rule targets either a model (`model_label`, e.g. ``agents.Agent``: its rows read through
    `instance_get`) or a key glob (`key_pattern`, e.g. ``model:tasks.task:*``). When several
    enabled rules match a key, the one with the highest `priority` sets its TTL. With no enabled
    rule, every tracked key is eligible with the default row TTL.
    """

    name = models.CharField(max_length=100, unique=True)
    model_label = models.CharField(max_length=100, blank=True, help_text="app_label.ModelName")
    key_pattern = models.CharField(max_length=500, blank=True, help_text="Redis glob over cache keys")
    ttl = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1), MaxValueValidator(30 * 86400)])
    priority = models.IntegerField(default=0, db_index=True)
    enabled = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(model_label="") & ~models.Q(key_pattern=""))
                | (~models.Q(model_label="") & models.Q(key_pattern="")),
                name="cache_warmingrule_one_target",
            ),
            models.CheckConstraint(condition=models.Q(ttl__gte=1), name="cache_warmingrule_ttl_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if bool(self.model_label) == bool(self.key_pattern):
            raise ValidationError({"model_label": "give exactly one of model_label or key_pattern"})
        if self.model_label:
            try:
                apps.get_model(self.model_label)
            except (LookupError, ValueError):
                raise ValidationError({"model_label": f"unknown model {self.model_label!r}"}) from None
        if self.key_pattern and not re.sub(r"[*?\[\]\\^!-]", "", self.key_pattern).strip():
            raise ValidationError({"key_pattern": f"pattern {self.key_pattern!r} is wildcard-only"})

    def matches(self, key: str) -> bool:
        if self.model_label:
            return key.startswith(f"model:{self.model_label.lower()}:")
        return fnmatch.fnmatchcase(key, self.key_pattern)


class CacheStatsSnapshot(BaseModel):
    """Cluster-wide counters at one moment (summed over processes via Redis), for trends."""

    l1_hits = models.BigIntegerField(default=0)
    l1_misses = models.BigIntegerField(default=0)
    l2_hits = models.BigIntegerField(default=0)
    l2_misses = models.BigIntegerField(default=0)
    hit_rate = models.FloatField(default=0.0, help_text="(L1 hits + L2 hits) / reads")
    l1_evictions = models.BigIntegerField(default=0)
    l2_evictions = models.BigIntegerField(default=0, help_text="Redis evicted_keys")
    key_count = models.BigIntegerField(default=0, help_text="keys in the cache database")
    loads = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    redis_up = models.BooleanField(default=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"cache stats {self.created_at:%Y-%m-%d %H:%M:%S} hit rate {self.hit_rate:.1%}"
