"""Domain errors and the one error body every API response uses.

Services raise `DomainError` subclasses; the API's exception handler
(`apps.platform.http.errors.exception_handler`) turns them, and DRF's and Django's own, into
`{"error": {"code", "message", "details"}}` with the right status.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status


class DomainError(Exception):
    """A rule of the domain was broken; carries the HTTP status the API should answer with."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "invalid"


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class Conflict(DomainError):
    """Stale version, illegal state transition, lease held by another worker…"""

    status_code = status.HTTP_409_CONFLICT
    code = "conflict"


class PayloadTooLarge(DomainError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class ServiceUnavailable(DomainError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
