import django_filters
from auditlog.models import LogEntry

from apps.audit.models import AccessLog, AuditEntry
from apps.common.validation import validate_datetime


class AccessLogFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", validators=[validate_datetime])
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", validators=[validate_datetime])
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="tenant slug (operators)")
    actor = django_filters.CharFilter(field_name="username", help_text="user name or api-key:<prefix>")

    class Meta:
        model = AccessLog
        fields = ["method", "status_code", "user", "key_prefix", "error_code", "tenant", "actor", "since", "until"]


class AuditEntryFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", validators=[validate_datetime])
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", validators=[validate_datetime])
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="tenant slug (operators)")

    class Meta:
        model = AuditEntry
        fields = ["action", "actor", "actor_kind", "target_type", "target_id", "tenant", "since", "until"]


class ChangeFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="content_type__model")
    app = django_filters.CharFilter(field_name="content_type__app_label")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", validators=[validate_datetime])

    class Meta:
        model = LogEntry
        fields = ["object_pk", "action", "model", "app", "since"]
