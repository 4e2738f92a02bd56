"""The Prometheus scraper's credential: `Authorization: Bearer <AGENCY_METRICS_TOKEN>`.

Prometheus sends a static bearer token (`authorization: {credentials: …}` in a scrape config);
it cannot log in or hold an API key. The token is a setting, not a user or a key: it reads
/metrics and /health/'s details, nothing else (the views that accept it list this class; no
other view does). Compared in constant time. Unset, the scheme is refused (401), so a scraper
configured with a token learns at once that the server expects none.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header


class MetricsScraper:
    """Who a valid metrics token authenticates as: user-like (DRF needs `is_authenticated`), no rights."""

    __slots__ = ()
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None
    username = "metrics-token"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


METRICS_SCRAPER = MetricsScraper()


class MetricsTokenAuthentication(BaseAuthentication):
    """`Bearer <token>` → (METRICS_SCRAPER, None); a wrong or unexpected bearer token is a 401."""

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[MetricsScraper, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        expected = settings.AGENCY_METRICS_TOKEN
        if not expected:
            raise exceptions.AuthenticationFailed("No metrics token is configured (AGENCY_METRICS_TOKEN).")
        if len(parts) != 2 or not secrets.compare_digest(parts[1], expected.encode()):
            raise exceptions.AuthenticationFailed("Invalid metrics token.")
        return METRICS_SCRAPER, None

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="metrics"'


class MetricsTokenScheme(OpenApiAuthenticationExtension):
    """The metrics token in the OpenAPI schema (registered by being defined): HTTP bearer."""

    target_class = MetricsTokenAuthentication
    name = "metricsToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "AGENCY_METRICS_TOKEN (Prometheus)"}
