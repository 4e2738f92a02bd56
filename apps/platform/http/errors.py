"""The API's exception handler: one error body for every 4xx/5xx, whoever raised it.

It lives in the platform's HTTP layer, not beside the error types in `apps.common.errors`,
because it needs DRF's views module, and the error types are imported by modules that DRF's
views module loads back (its authentication classes, through the settings).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import psycopg
import redis.exceptions
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django_redis.exceptions import ConnectionInterrupted
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import DomainError, error_body

logger = logging.getLogger(__name__)

# A backing service is down or went away mid-request: the client should retry, not report a bug.
# PostgreSQL's (refused connection, terminated backend, closed connection: Django's wrappers, and
# psycopg's own from the hot paths that use the raw connection, apps/platform/db/cursors.py) and
# Redis' (redis-py's, and django-redis' wrapper of them).
DATABASE_OUTAGES = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
REDIS_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionInterrupted)
# What a 503 asks the client to wait: a restarted embedded server is back within seconds.
RETRY_AFTER_SECONDS = 5


def outage_message(exc: BaseException | None) -> str | None:
    """The 503 message for an exception that means a backing service is unavailable, else None."""
    if isinstance(exc, DATABASE_OUTAGES):
        return "the database (PostgreSQL) is unavailable; retry later"
    if isinstance(exc, REDIS_OUTAGES):
        return "Redis is unavailable; retry later"
    return None


def _unavailable(message: str) -> Response:
    return Response(error_body("unavailable", message), status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: on /api/ paths the one error body in JSON (503 + Retry-After for an outage), never HTML.

    Django calls it for what escaped the view and DRF's handler: exceptions in middleware (the
    tenant scope, sessions) and views' bugs. Other paths (admin, console) keep Django's page.
    Django has logged the traceback already (django.request). With DEBUG on, Django shows its
    debug page instead and does not call this.
    """
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    message = outage_message(sys.exc_info()[1])
    if message is not None:
        response = JsonResponse(error_body("unavailable", message), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return JsonResponse(error_body("server_error", "internal server error"), status=500)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL no route matches (an id that is no UUID, a name outside the allowed pattern)
    is the one error body in JSON on /api/ paths, as the schema documents every 404; elsewhere Django's page."""
    if not request.path.startswith("/api/"):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", f"no such resource: {request.path[:200]}"), status=404)

_DRF_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def _flatten(details: Any, path: str, out: dict[str, list[str]]) -> None:
    """DRF's nested error details as {"field path": [messages]}, in the order DRF reported them.

    A list field's errors come keyed by the item's index (`{"types": {0: [...]}}`), which the JSON
    renderer cannot write (object keys are strings), and a nested serializer's as a list with an
    empty dict for every valid item. Both become one flat level named like the API's own messages:
    `types[0]`, `queries[1].k`, `capabilities.a.b`.
    """
    if isinstance(details, dict):
        for key, value in details.items():
            if key == "non_field_errors":
                sub = path
            elif isinstance(key, int):
                sub = f"{path}[{key}]"
            elif str(key).startswith("["):
                sub = f"{path}{key}"
            else:
                sub = f"{path}.{key}" if path else str(key)
            _flatten(value, sub, out)
    elif isinstance(details, list) and any(isinstance(item, dict | list) for item in details):
        for i, item in enumerate(details):
            if item:
                _flatten(item, f"{path}[{i}]", out)
    elif isinstance(details, list):
        out.setdefault(path or "non_field_errors", []).extend(str(item) for item in details)
    else:
        out.setdefault(path or "non_field_errors", []).append(str(details))


def _flat_details(details: Any) -> tuple[Any, str]:
    """The error body's details (flat: each key a field path) and its message, naming the first path."""
    if not isinstance(details, dict | list):
        return details, str(details)
    flat: dict[str, list[str]] = {}
    _flatten(details, "", flat)
    if not flat:
        return details, "invalid input"
    path, messages = next(iter(flat.items()))
    message = messages[0] if path == "non_field_errors" else f"{path}: {messages[0]}"
    if isinstance(details, list) and list(flat) == ["non_field_errors"]:
        return flat["non_field_errors"], message  # a serializer-wide error (validate()) stays a list of messages
    return flat, message


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: one error shape for every 4xx/5xx the API returns.

    A database or Redis outage answers 503 with Retry-After (in every settings module: DRF calls
    this whatever DEBUG says); other unexpected exceptions go on to Django and `server_error`.
    """
    message = outage_message(exc)
    if message is not None:
        logger.warning("503 on %s: %s", getattr(context.get("request"), "path", "?"), exc, exc_info=exc)
        return _unavailable(message)
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
        if exc.status_code == 503:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(details)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _DRF_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        details, message = _flat_details(response.data)
    else:
        details = None
        message = str(response.data.get("detail", exc)) if isinstance(response.data, dict) else str(exc)
    response.data = error_body(code, message, details)
    return response
