import django_filters
from auditlog.models import LogEntry

from apps.audit.models import AccessLog


class AccessLogFilter(django_filters.FilterSet):
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = AccessLog
        fields = ["method", "status_code", "user", "since", "until"]


class ChangeFilter(django_filters.FilterSet):
    model = django_filters.CharFilter(field_name="content_type__model")
    app = django_filters.CharFilter(field_name="content_type__app_label")
    since = django_filters.IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte")

    class Meta:
        model = LogEntry
        fields = ["object_pk", "action", "model", "app", "since"]
