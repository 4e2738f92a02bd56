"""Operators' view of the queue: filters, search, readable JSON, and actions that call the services."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.common.admin import history_table, pretty_json
from apps.common.errors import DomainError
from apps.tasks import services
from apps.tasks.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "type", "status", "priority", "agent", "attempts", "max_attempts", "lease_owner",
                    "run_after", "created_at"]
    list_filter = ["tenant", "status", "type", "agent", "created_at"]
    search_fields = ["id", "type", "lease_owner", "error", "agent__name", "tenant__slug"]
    list_select_related = ["agent", "tenant"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    actions = ["retry_selected", "cancel_selected", "requeue_selected"]
    fieldsets = [
        (None, {"fields": ["id", "tenant", "agent", "type", "status", "priority", "version"]}),
        ("payload", {"fields": ["data_pretty", "result_pretty", "error"]}),
        ("execution", {"fields": ["attempts", "max_attempts", "run_after", "lease_owner", "lease_credential",
                                  "lease_expires_at", "started_at", "finished_at", "created_at", "updated_at"]}),
        ("history", {"fields": ["history"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        """Everything is read-only: state changes only through the actions (the state machine)."""
        return [f for fs in self.fieldsets for f in fs[1]["fields"]]

    def has_add_permission(self, request) -> bool:
        return False  # tasks are created through the API, which validates them

    @admin.display(description="data")
    def data_pretty(self, obj: Task) -> str:
        return pretty_json(obj.data)

    @admin.display(description="result")
    def result_pretty(self, obj: Task) -> str:
        return pretty_json(obj.result)

    @admin.display(description="change history (auditlog)")
    def history(self, obj: Task) -> str:
        return history_table(obj)

    def _apply(self, request, queryset, service, verb: str) -> None:
        """Operators act across tenants (tenant_id=None) on the rows they selected."""
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                service(tenant_id=None, task_id=pk)
                done += 1
            except DomainError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} task(s) {verb}.")

    @admin.action(description="Retry selected failed/cancelled tasks")
    def retry_selected(self, request, queryset):
        self._apply(request, queryset, services.task_retry, "retried")

    @admin.action(description="Cancel selected pending/running tasks")
    def cancel_selected(self, request, queryset):
        self._apply(request, queryset, services.task_cancel, "cancelled")

    @admin.action(description="Requeue selected running tasks (take them from their worker)")
    def requeue_selected(self, request, queryset):
        self._apply(request, queryset, services.task_requeue, "requeued")
