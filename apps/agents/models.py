"""Agents: the workers the orchestrator registers and hands tasks to.

An agent belongs to a tenant `namespace` (a plain string for now, default ``"default"``) so that
later isolation has a column to filter and shard on. `version` is the optimistic-concurrency
counter: every write bumps it, and a write that names a stale version is refused (409).
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.db import models
from django.db.models.lookups import Exact

from apps.common.models import BaseModel


class AgentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    MAINTENANCE = "maintenance", "Maintenance"


def _jsonb_typeof(field: str) -> models.Func:
    return models.Func(models.F(field), function="jsonb_typeof", output_field=models.CharField())


class Agent(BaseModel):
    namespace = models.CharField(max_length=100, default="default", db_index=True)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=100, db_index=True)
    capabilities = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=50, choices=AgentStatus.choices, default=AgentStatus.ACTIVE)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="agents_agent_unique_name_in_namespace"),
            models.CheckConstraint(
                condition=models.Q(status__in=AgentStatus.values), name="agents_agent_status_valid"
            ),
            models.CheckConstraint(
                condition=Exact(_jsonb_typeof("capabilities"), "object"),
                name="agents_agent_capabilities_is_object",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "type"], name="agents_status_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"

    @property
    def etag(self) -> str:
        """Weak ETag of this row's version; clients send it back in If-Match."""
        return f'W/"{self.version}"'


auditlog.register(Agent)
