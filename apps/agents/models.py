"""Agents: the workers the orchestrator registers and hands tasks to.

An agent belongs to one tenant (`tenants.Tenant`), which its credential decides; names are
unique within a tenant. The tenant replaced the old `namespace` string, which was the same
concept under another name (migrations 0002-0005: a tenant per namespace, then the column
dropped); the API still shows `namespace` as a deprecated read-only alias of the tenant's slug.
`version` is the optimistic-concurrency counter: every write bumps it, and a write that names a
stale version is refused (409).

Indexes lead with `tenant_id`, since every query of the API carries the tenant predicate: the
unique (tenant, name) index also serves as the tenant foreign key's index.
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
    # db_index=False: the unique (tenant, name) constraint's index leads with tenant_id already.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=100, db_index=True)
    capabilities = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=50, choices=AgentStatus.choices, default=AgentStatus.ACTIVE)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="agents_agent_unique_name_in_tenant"),
            models.CheckConstraint(
                condition=models.Q(status__in=AgentStatus.values), name="agents_agent_status_valid"
            ),
            models.CheckConstraint(
                condition=Exact(_jsonb_typeof("capabilities"), "object"),
                name="agents_agent_capabilities_is_object",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "type"], name="agents_tenant_status_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"

    @property
    def etag(self) -> str:
        """Weak ETag of this row's version; clients send it back in If-Match."""
        return f'W/"{self.version}"'


auditlog.register(Agent)
