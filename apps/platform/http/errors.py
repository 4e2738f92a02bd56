"""The API's exception handler: one error body for every 4xx/5xx, whoever raised it.

It lives in the platform's HTTP layer, not beside the error types in `apps.common.errors`,
because it needs DRF's views module, and the error types are imported by modules that DRF's
views module loads back (its authentication classes, through the settings).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import DomainError, error_body

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
    """DRF exception handler: one error shape for every 4xx/5xx the API returns."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
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
