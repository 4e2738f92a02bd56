from auditlog.models import LogEntry
from django.db.models import QuerySet

from apps.audit.models import AccessLog


def access_log_list() -> QuerySet[AccessLog]:
    return AccessLog.objects.all()


def change_history_list() -> QuerySet[LogEntry]:
    return LogEntry.objects.select_related("content_type", "actor").order_by("-timestamp")
