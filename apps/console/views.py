from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.platform.health import health_report


class HealthView(APIView):
    """Load balancers and operators poll this; 503 when a required component is down."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: dict, 503: dict}, tags=["health"])
    def get(self, request: Request) -> Response:
        report = health_report()
        return Response(report, status=503 if report["status"] == "down" else 200)


class MeView(APIView):
    """Who the caller is authenticated as; the cheapest authenticated call for a service to test its token."""

    required_scopes = None  # any authenticated caller, API keys included (apps.tenants.permissions)

    @extend_schema(responses={200: dict}, tags=["auth"])
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"username": user.get_username(), "is_staff": user.is_staff})
