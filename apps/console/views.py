"""The operations surface (/health/, /metrics, the API schema and docs) and /me/.

Who may read which is decided in apps/console/permissions.py. Refusals are the API's one JSON
error body (401 for no or a bad credential, 403 for the wrong one), also on the views whose
successes are YAML, HTML or Prometheus text; the one exception is a browser (Accept: text/html)
without a session at /api/docs/, which is sent to the admin login and back.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBase
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.console.authentication import MetricsTokenAuthentication
from apps.console.permissions import ApiDocsReaders, MetricsReaders, sees_health_details
from apps.platform.health import health_report, health_summary


class JsonErrors:
    """Mixin for views whose own renderers are not JSON: errors still get the one JSON error body."""

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)  # type: ignore[misc]
        renderer = api_settings.DEFAULT_RENDERER_CLASSES[0]()
        self.request.accepted_renderer, self.request.accepted_media_type = renderer, renderer.media_type
        return response


class _FirstRenderer(BaseContentNegotiation):
    """No negotiation: Prometheus' Accept (openmetrics, text/plain) must reach the permission check, not a 406."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class HealthView(APIView):
    """Load balancers and operators poll this; 503 when a required component is down.

    Everybody gets the status and each component's `ok`; operators and the metrics token also get
    versions, latencies, worker names and errors (apps/console/permissions.py).
    """

    permission_classes = [AllowAny]
    authentication_classes = [MetricsTokenAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    throttle_classes: list = []  # polled by load balancers, often from one address: never throttled

    @extend_schema(responses={200: dict, 503: dict}, tags=["health"],
                   description="Status per component for everybody; server versions, latencies, worker names and "
                               "errors only for operators and the metrics token.")
    def get(self, request: Request) -> Response:
        report = health_report()
        body = report if sees_health_details(request) else health_summary(report)
        return Response(body, status=503 if report["status"] == "down" else 200)


class MetricsView(JsonErrors, APIView):
    """django-prometheus' /metrics behind MetricsReaders (operators, the Prometheus bearer token)."""

    permission_classes = [MetricsReaders]
    authentication_classes = [MetricsTokenAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    throttle_classes: list = []  # scraped on a schedule by Prometheus: never throttled
    renderer_classes = api_settings.DEFAULT_RENDERER_CLASSES[:1]  # for refusals; a success is Prometheus text
    content_negotiation_class = _FirstRenderer

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponseBase:
        return ExportToDjangoView(request._request)


class SchemaView(JsonErrors, SpectacularAPIView):
    """The OpenAPI schema (YAML, or JSON with ?format=json / Accept), for any authenticated caller."""

    permission_classes = [ApiDocsReaders]


class ApiDocsView(JsonErrors, SpectacularSwaggerView):
    """Swagger UI for any authenticated caller; a browser without a session goes to the admin login first.

    The page loads the schema from the browser with the session cookie, so the docs in a browser
    are for operators (admin login); services read /api/schema/ with their key.
    """

    permission_classes = [ApiDocsReaders]

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, exceptions.NotAuthenticated) and "text/html" in self.request.META.get("HTTP_ACCEPT", ""):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class MeView(APIView):
    """Who the caller is authenticated as; the cheapest authenticated call for a service to test its token."""

    required_scopes = None  # any authenticated caller, API keys included (apps.tenants.permissions)

    @extend_schema(responses={200: dict}, tags=["auth"])
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"username": user.get_username(), "is_staff": user.is_staff})
