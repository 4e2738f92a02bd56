"""Records every API request (method, path, status, user, duration) into the access log buffer."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from apps.audit.services import access_log_buffer


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefixes = tuple(settings.AGENCY_ACCESS_LOG_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.AGENCY_ACCESS_LOG_ENABLED or not request.path.startswith(self.prefixes):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        # DRF authenticates inside the view: its user is on the wrapped request it leaves behind.
        drf_user = getattr(getattr(response, "renderer_context", {}).get("request"), "user", None)
        user = drf_user if drf_user is not None else user
        authenticated = bool(user is not None and user.is_authenticated)
        access_log_buffer({
            "timestamp": timezone.now().isoformat(),
            "user_id": user.pk if authenticated else None,
            "username": user.get_username() if authenticated else "",
            "method": request.method,
            "path": request.path[:500],
            "status_code": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "remote_addr": request.META.get("REMOTE_ADDR") or None,
            "request_id": request.headers.get("X-Request-ID", "")[:64],
        })
        return response
