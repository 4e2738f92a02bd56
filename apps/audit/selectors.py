"""Reads of the audit app, each scoped by the caller's tenant (None: an operator, every tenant)."""

from auditlog.models import LogEntry
from django.db.models import QuerySet

from apps.audit.models import AccessLog, AuditEntry


def access_log_list(*, tenant_id: int | None = None) -> QuerySet[AccessLog]:
    lines = AccessLog.objects.select_related("tenant")
    return lines if tenant_id is None else lines.filter(tenant_id=tenant_id)


def audit_entry_list(*, tenant_id: int | None = None) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.select_related("tenant")
    return entries if tenant_id is None else entries.filter(tenant_id=tenant_id)


def change_history_list() -> QuerySet[LogEntry]:
    """django-auditlog's field-level history (operators only: its rows name no tenant column)."""
    return LogEntry.objects.select_related("content_type", "actor").order_by("-timestamp")
