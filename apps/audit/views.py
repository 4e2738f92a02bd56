"""The audit API: the trail of writes, the access log, django-auditlog's change history.

The trail and the access log are scoped like every other tenant's data: an API key with
`tenant:admin` reads its own tenant's rows only (another tenant's entry is a 404, a `?tenant=`
naming another tenant an empty list); operators read every tenant's and filter by tenant and
actor. The change history has no tenant column and stays with operators.
"""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAdminUser

from apps.audit import selectors
from apps.audit.filters import AccessLogFilter, AuditEntryFilter, ChangeFilter
from apps.audit.serializers import AccessLogSerializer, AuditEntrySerializer, ChangeSerializer
from apps.tenants.permissions import HasScopes
from apps.tenants.principals import is_operator, request_principal
from apps.tenants.scopes import Scope
from apps.tenants.selectors import request_tenant_id
from apps.tenants.throttling import TenantRateThrottle


class AuditReaders(HasScopes):
    """Operators, and API keys holding `tenant:admin`; not the deprecated DRF tokens of non-staff users.

    Those tokens act for the `default` tenant with every scope (apps.tenants.permissions), which
    would let any old service read that tenant's audit: audit needs a credential made for it.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if is_operator(request.user) or request_principal(request) is not None:
            return super().has_permission(request, view)
        if request.user is not None and request.user.is_authenticated:
            self.message = f"Audit is read by operators and by API keys with the scope {Scope.TENANT_ADMIN.value!r}."
        return False


class _TenantScoped(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [AuditReaders]
    required_scopes = Scope.TENANT_ADMIN.value
    throttle_classes = [TenantRateThrottle]

    def tenant_id(self) -> int | None:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return None
        return request_tenant_id(self.request)


@extend_schema_view(list=extend_schema(tags=["audit"]), retrieve=extend_schema(tags=["audit"]))
class AuditEntryViewSet(_TenantScoped):
    """Every write with its actor (API key, user or system) and tenant: the caller's tenant's, or all (operators)."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    search_fields = ["actor", "target_repr", "target_id"]
    ordering_fields = ["timestamp"]

    def get_queryset(self):
        return selectors.audit_entry_list(tenant_id=self.tenant_id())


@extend_schema_view(list=extend_schema(tags=["audit"]), retrieve=extend_schema(tags=["audit"]))
class AccessLogViewSet(_TenantScoped):
    """API requests as recorded by the access-log middleware, refused ones included: the caller's tenant's, or all."""

    serializer_class = AccessLogSerializer
    filterset_class = AccessLogFilter
    search_fields = ["path", "username"]
    ordering_fields = ["timestamp", "duration_ms", "status_code"]

    def get_queryset(self):
        return selectors.access_log_list(tenant_id=self.tenant_id())


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
