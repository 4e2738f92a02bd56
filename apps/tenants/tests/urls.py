"""The project's URLs plus tiny probe views that exercise the key authentication, scopes and throttles.

The tests mount them with `pytest.mark.urls("apps.tenants.tests.urls")`; the throttle is named on
each probe, since the project does not configure it globally until the domain endpoints are
scoped by tenant.
"""

from __future__ import annotations

from django.urls import include, path
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from apps.tenants.permissions import HasScopes
from apps.tenants.selectors import request_tenant_id
from apps.tenants.throttling import TenantRateThrottle


def _who(request: Request) -> dict:
    user = request.user
    return {"username": user.get_username(), "tenant_id": request_tenant_id(request),
            "scopes": sorted(getattr(user, "scopes", ())),
            "auth": request.auth if isinstance(request.auth, str) else None}


class ProbeViewSet(viewsets.ViewSet):
    """Scopes by action, as the domain viewsets will declare them."""

    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = {"list": "agents:read", "create": "agents:write"}

    def list(self, request: Request) -> Response:
        return Response(_who(request))

    def create(self, request: Request) -> Response:
        return Response(_who(request), status=201)

    def destroy(self, request: Request, pk: str | None = None) -> Response:  # declares no scope: operators only
        return Response(status=204)


class MethodProbeView(APIView):
    """Scopes by HTTP method."""

    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = {"GET": "tasks:read", "POST": "tasks:work"}

    def get(self, request: Request) -> Response:
        return Response(_who(request))

    def post(self, request: Request) -> Response:
        return Response(_who(request))


class AnyCallerProbeView(APIView):
    """No scope needed (any authenticated caller), throttled: users are counted too."""

    permission_classes = [HasScopes]
    throttle_classes = [TenantRateThrottle]
    required_scopes = None

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username()})


router = SimpleRouter()
router.register("probe", ProbeViewSet, basename="probe")

urlpatterns = [
    path("test-tenants/", include(router.urls)),
    path("test-tenants/method-probe/", MethodProbeView.as_view()),
    path("test-tenants/any-caller-probe/", AnyCallerProbeView.as_view()),
    path("", include("agency.urls")),
]
