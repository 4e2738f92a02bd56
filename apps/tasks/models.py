"""The task queue: rows that many workers claim at once, each under a time-limited lease.

Lifecycle (enforced in `apps.tasks.services`, see `TRANSITIONS`):
pending → running (claim) → completed | failed | pending (fail with retries left, lease expired)
and any of pending/running → cancelled; failed/cancelled → pending (operator retry).

Every task belongs to one tenant: its agent's when it has one (apps.tasks.services keeps them
equal), else the creator's. Every query of the API carries the tenant predicate, so the indexes
lead with `tenant_id`. The partial index `tasks_claim_idx` serves the claim query exactly: only
pending rows of one tenant, in the order the claim wants them (priority DESC, created_at), so a
claim reads a handful of index entries however long the history grows and however many other
tenants' tasks are waiting. (An operator's claim across all tenants cannot use that order; it
sorts the due rows instead. Workers claim per tenant.)

A lease is held by a `worker_id` string (`lease_owner`) under a credential (`lease_credential`:
`key:<prefix>` or `user:<pk>`, see apps.tenants.principals.credential_id); heartbeat, complete
and fail must present both.
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.db import models
from django.db.models.lookups import Exact
from django.utils import timezone

from apps.common.models import BaseModel


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


SETTLED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


def _jsonb_typeof(field: str) -> models.Func:
    return models.Func(models.F(field), function="jsonb_typeof", output_field=models.CharField())


class Task(BaseModel):
    # db_index=False: the composite indexes below lead with tenant_id (tasks_tenant_created_idx first).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    type = models.CharField(max_length=100)
    status = models.CharField(max_length=50, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    priority = models.IntegerField(default=1)
    data = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    run_after = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_credential = models.CharField(max_length=150, blank=True, default="",
                                        help_text="The credential that claimed the lease (key:<prefix> or user:<id>).")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=TaskStatus.values), name="tasks_task_status_valid"),
            models.CheckConstraint(condition=models.Q(priority__gte=0), name="tasks_task_priority_non_negative"),
            models.CheckConstraint(condition=models.Q(max_attempts__gte=1), name="tasks_task_max_attempts_positive"),
            models.CheckConstraint(
                condition=Exact(_jsonb_typeof("data"), "object"), name="tasks_task_data_is_object"
            ),
        ]
        indexes = [
            models.Index(
                "tenant", models.F("priority").desc(), "created_at",
                name="tasks_claim_idx", condition=models.Q(status="pending"),
            ),
            models.Index(fields=["tenant", "created_at"], name="tasks_tenant_created_idx"),
            models.Index(fields=["tenant", "agent", "status"], name="tasks_tenant_agent_status_idx"),
            models.Index(fields=["tenant", "type", "status"], name="tasks_tenant_type_status_idx"),
            models.Index(
                fields=["lease_expires_at"], name="tasks_running_lease_idx", condition=models.Q(status="running")
            ),
        ]

    @property
    def cacheable(self) -> bool:
        """Only settled tasks (completed, failed, cancelled) are kept in the row cache.

        A pending or running task changes within seconds (claim, heartbeat, complete, reap),
        and a reader polling it wants the current lease, not a cached one. A settled task
        changes only through an operator action (retry) that saves it and so invalidates it.
        This is what lets the queue's hot statements skip cache invalidation altogether: they
        only ever touch pending or running rows, which no cache holds (apps.tasks.services).
        """
        return self.status in SETTLED

    def __str__(self) -> str:
        return f"{self.type} [{self.status}] {self.id}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


auditlog.register(Task)
