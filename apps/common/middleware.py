"""Request guards that must run before anything reads the request."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.common.errors import error_body


class RequestSizeLimitMiddleware:
    """413 for a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (AGENCY_MAX_REQUEST_BYTES), unread.

    Django enforces that limit only when `request.body` is read; DRF's parsers read the stream
    instead, so without this an API request of any size would be read into memory and parsed.
    The answer has the API's error body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return JsonResponse(error_body(
                    "request_too_large",
                    f"request body: at most {limit} bytes (AGENCY_MAX_REQUEST_BYTES), got {length}"), status=413)
        return self.get_response(request)
