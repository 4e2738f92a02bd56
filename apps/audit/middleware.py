"""Records every API request (method, path, status, credential, tenant, duration) into the access log buffer,
and makes the request's credential the actor of the audit entries its writes leave (apps.audit.context)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from apps.audit.context import request_acting
from apps.audit.services import access_log_buffer
from apps.tenants.principals import ApiKeyPrincipal

# The public part of `Authorization: Api-Key <prefix>.<secret>`: what the library looks keys up by.
_KEY_PREFIX = re.compile(r"^\s*Api-Key\s+([A-Za-z0-9]{1,8})\.")


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.AGENCY_ACCESS_LOG_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.AGENCY_ACCESS_LOG_ENABLED or not request.path.startswith(self.prefixes):
            return self.get_response(request)
        started_at = time.time()
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        # Pushed when the server closes the response, i.e. after the body went to the client: the
        # entry is built and the Redis round trip made outside the client-visible latency, but still
        # in this worker, before it takes the next request (same durability as pushing here). The
        # WSGI/ASGI handlers and the test Client always call close(); close() swallows a closer's
        # error, and access_log_buffer never raises for a Redis outage anyway.
        response._resource_closers.append(
            lambda: access_log_buffer(_entry(request, response, started_at, duration_ms)))
        return response


def _entry(request: HttpRequest, response: HttpResponse, started_at: float, duration_ms: float) -> dict:
    """The access-log line: for a refused request too, who presented what (never a secret) and why it failed."""
    user = getattr(request, "user", None)
    # DRF authenticates inside the view: its user is on the wrapped request it leaves behind.
    drf_user = getattr(getattr(response, "renderer_context", {}).get("request"), "user", None)
    user = drf_user if drf_user is not None else user
    authenticated = bool(user is not None and user.is_authenticated)
    principal = user if isinstance(user, ApiKeyPrincipal) else None
    presented = _KEY_PREFIX.match(request.headers.get("Authorization", ""))
    body = getattr(response, "data", None)
    error = body.get("error") if isinstance(body, dict) else None
    return {
        "timestamp": datetime.fromtimestamp(started_at, tz=UTC).isoformat(),
        "user_id": user.pk if authenticated else None,
        "username": user.get_username()[:150] if authenticated else "",
        "key_prefix": principal.prefix if principal else (presented.group(1) if presented else ""),
        "tenant_id": principal.tenant_id if principal else None,
        "method": request.method,
        "path": request.path[:500],
        "status_code": response.status_code,
        "error_code": str(error.get("code") or "")[:64] if isinstance(error, dict) else "",
        "duration_ms": duration_ms,
        "remote_addr": request.META.get("REMOTE_ADDR") or None,
        "request_id": request.headers.get("X-Request-ID", "")[:64],
    }


class AuditlogWritesMiddleware(AuditlogMiddleware):
    """The audit trail's actor for every request, and django-auditlog's middleware for the requests that may write.

    Every request is put in `apps.audit.context` (a context variable, set and reset around the
    view), so each audit entry a write leaves names the request's key or user.

    django-auditlog's middleware is skipped for requests that cannot write audited rows.

    It only attributes LogEntry rows (actor, remote address, correlation id) to the request, and
    entries are written only when an audited model is saved or deleted, which safe methods
    (GET/HEAD/OPTIONS/TRACE) and the vector-search POSTs (read-only queries sent as POST because of
    their body) never do. Yet it costs each request a lazy-user resolution, two context variables
    and a pre_save receiver connected and disconnected (which also flushes Django's receiver
    cache for pre_save). Every other POST/PUT/PATCH/DELETE keeps the full behaviour.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
    READ_ONLY_POSTS = re.compile(r"^/api/v1/collections/[^/]+/search(?:/batch)?/$")

    @staticmethod
    def _get_actor(request: HttpRequest) -> SimpleLazyObject:
        """The request's user as of the moment a LogEntry is saved, not as of this middleware.

        DRF authenticates a token inside the view and only then sets `request.user`; resolved
        here, before the view, every token-authenticated API write was logged without an actor.
        """
        def user() -> Any:
            found = getattr(request, "user", None)
            return found if found is not None and found.is_authenticated else None

        return SimpleLazyObject(user)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The audit trail's actor is this request's credential, whatever the method (a context variable: cheap).
        with request_acting(request):
            if request.method in self.SAFE_METHODS or (
                    request.method == "POST" and self.READ_ONLY_POSTS.match(request.path)):
                return self.get_response(request)
            return super().__call__(request)
