"""Who may read the operations surface: /metrics, /api/schema/, /api/docs/ and /health/'s details.

In production only `/health/`'s status is public. The rest needs a credential, or a setting
that says it is public on purpose:

* /metrics (every process's counters, all tenants together): operators (staff, session or DRF
  token) and the Prometheus token (`AGENCY_METRICS_TOKEN`, apps/console/authentication.py); not
  API keys, which are a tenant's. `AGENCY_PUBLIC_METRICS=true` opens it.
* /api/schema/ and /api/docs/: any authenticated caller (an operator, a DRF token, an API key
  of any scope): the schema documents the same endpoints for everybody, a service needs it to
  build its client, and it holds no data. `AGENCY_PUBLIC_API_DOCS=true` opens them.
* /health/: status per component for everybody; server versions, latencies, worker names and
  errors for operators and the metrics token only.

With DEBUG on (local development, `make run`) all of it is public, as Django's debug pages are.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.permissions import BasePermission

from apps.console.authentication import MetricsScraper
from apps.tenants.principals import is_operator


def metrics_public() -> bool:
    return bool(settings.DEBUG or settings.AGENCY_PUBLIC_METRICS)


def api_docs_public() -> bool:
    return bool(settings.DEBUG or settings.AGENCY_PUBLIC_API_DOCS)


def sees_health_details(request: Any) -> bool:
    """Operators and the metrics token see every component's versions and errors (everybody with DEBUG)."""
    user = request.user
    return bool(settings.DEBUG or is_operator(user) or isinstance(user, MetricsScraper))


class MetricsReaders(BasePermission):
    """Operators or the metrics token; everybody when AGENCY_PUBLIC_METRICS (or DEBUG) is on."""

    message = ("/metrics is for operators and the metrics token (Authorization: Bearer <AGENCY_METRICS_TOKEN>); "
               "API keys and other users may not read it.")

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return metrics_public() or is_operator(user) or isinstance(user, MetricsScraper)


class ApiDocsReaders(BasePermission):
    """Any authenticated caller; everybody when AGENCY_PUBLIC_API_DOCS (or DEBUG) is on."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return api_docs_public() or bool(user is not None and user.is_authenticated)
