from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAdminUser

from apps.audit import selectors
from apps.audit.filters import AccessLogFilter, ChangeFilter
from apps.audit.serializers import AccessLogSerializer, ChangeSerializer


@extend_schema_view(list=extend_schema(tags=["audit"]), retrieve=extend_schema(tags=["audit"]))
class AccessLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """API requests as recorded by the access-log middleware (operators only)."""

    permission_classes = [IsAdminUser]
    serializer_class = AccessLogSerializer
    filterset_class = AccessLogFilter
    search_fields = ["path", "username"]
    ordering_fields = ["timestamp", "duration_ms", "status_code"]

    def get_queryset(self):
        return selectors.access_log_list()


@extend_schema_view(list=extend_schema(tags=["audit"]), retrieve=extend_schema(tags=["audit"]))
class ChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Change history of audited models (django-auditlog), operators only."""

    permission_classes = [IsAdminUser]
    serializer_class = ChangeSerializer
    filterset_class = ChangeFilter
    search_fields = ["object_repr"]
    ordering_fields = ["timestamp"]

    def get_queryset(self):
        return selectors.change_history_list()
