"""Operators' view of agents: filters, search, readable JSON, their recent tasks and change history.

Operators work across tenants here (services are called with tenant_id=None); an agent's tenant
is chosen when it is made and shown read-only afterwards (agents never move between tenants).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from apps.agents.models import Agent
from apps.agents.services import agent_create, agent_update
from apps.common.admin import history_table, pretty_json
from apps.common.errors import DomainError

# The task model through the agent's own reverse relation (Task.agent, related_name "tasks"): the
# agents app does not import the tasks app's models (apps use each other's services and selectors).
Task = Agent._meta.get_field("tasks").related_model


class RecentTasksFormSet(forms.BaseInlineFormSet):
    """Only the 20 newest tasks: an agent's history can be millions of rows (the link shows them all)."""

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.filter(pk__in=list(qs.order_by("-created_at").values_list("pk", flat=True)[:20]))


class TaskInline(admin.TabularInline):
    """The agent's most recent tasks, read-only; each links to the task's own page."""

    model = Task
    formset = RecentTasksFormSet
    verbose_name_plural = "recent tasks (newest 20)"
    fields = ["link", "type", "status", "priority", "attempts", "created_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    @admin.display(description="task")
    def link(self, obj: Task) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:tasks_task_change", args=[obj.pk]), obj.pk)

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-created_at")


class AgentAdminForm(forms.ModelForm):
    """Carries the version the operator opened, so the admin obeys the same optimistic lock as the API."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Agent
        fields = ["tenant", "name", "type", "status", "capabilities"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean_capabilities(self):
        value = self.cleaned_data.get("capabilities")
        if not isinstance(value, dict):
            raise forms.ValidationError("capabilities must be a JSON object")
        return value

    def clean(self):
        cleaned = super().clean()
        expected = cleaned.get("expected_version")
        if self.instance.pk and expected is not None:
            current = Agent.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
            if current != expected:
                raise forms.ValidationError(
                    f"This agent was changed by someone else (now version {current}, you opened {expected}); "
                    "reload the page and apply your change again."
                )
        return cleaned


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentAdminForm
    list_display = ["name", "tenant", "type", "status", "version", "task_count", "updated_at"]
    list_filter = ["tenant", "status", "type"]
    search_fields = ["name", "type", "id", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "version", "created_at", "updated_at", "capabilities_pretty", "tasks_link", "history"]
    fields = ["tenant", "name", "type", "status", "capabilities", "capabilities_pretty", "id", "version",
              "expected_version", "created_at", "updated_at", "tasks_link", "history"]
    inlines = [TaskInline]
    actions = ["mark_maintenance", "mark_active"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "tenant"] if obj is not None else list(self.readonly_fields)

    @admin.display(description="capabilities (formatted)")
    def capabilities_pretty(self, obj: Agent) -> str:
        return pretty_json(obj.capabilities)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_task_count=Count("tasks"))

    @admin.display(description="tasks", ordering="_task_count")
    def task_count(self, obj: Agent) -> int:
        return obj._task_count

    @admin.display(description="all tasks")
    def tasks_link(self, obj: Agent) -> str:
        url = reverse("admin:tasks_task_changelist") + f"?agent__id__exact={obj.pk}"
        return format_html('<a href="{}">all tasks of this agent</a>', url)

    @admin.display(description="change history (auditlog)")
    def history(self, obj: Agent) -> str:
        return history_table(obj)

    def _set_status(self, request, queryset, status: str) -> None:
        done = 0
        for agent in queryset:
            try:
                agent_update(agent_id=agent.pk, tenant_id=None, expected_version=agent.version, status=status)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{agent}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} agent(s) set to {status}.")

    @admin.action(description="Put selected agents in maintenance")
    def mark_maintenance(self, request, queryset):
        self._set_status(request, queryset, "maintenance")

    @admin.action(description="Mark selected agents active")
    def mark_active(self, request, queryset):
        self._set_status(request, queryset, "active")

    def save_model(self, request, obj: Agent, form, change: bool) -> None:
        """Edits go through the services so they get the same validation and version check as the API."""
        data = {f: form.cleaned_data[f] for f in ("name", "type", "status", "capabilities")}
        try:
            if change:
                expected = form.cleaned_data.get("expected_version") or obj.version
                saved = agent_update(agent_id=obj.pk, tenant_id=None, expected_version=expected, **data)
            else:
                saved = agent_create(tenant_id=form.cleaned_data["tenant"].pk, **data)
        except DomainError as exc:  # lost a race after the form's own check: say so, write nothing
            self.message_user(request, exc.message, messages.ERROR)
            return
        for field in ("pk", "version", "created_at", "updated_at"):
            setattr(obj, field, getattr(saved, field))
        obj._state.adding = False
