"""Request guards that must run before anything reads the request, and the middleware stack's cost.

The browser middlewares (session, CSRF, auth, messages, clickjacking) are subclassed so that a
token-authenticated API call passes them by: they exist for cookie sessions and HTML pages, and
such a call carries neither. The prometheus middleware is subclassed to look its labelled series
up once. Both are measured in bench/api.py (`GET /api/v1/me/`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core import checks
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware as DjangoXFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.utils.module_loading import import_string
from django_prometheus.middleware import PrometheusAfterMiddleware as DjangoPrometheusAfterMiddleware

from apps.common.errors import error_body
from apps.platform.db.tenancy import request_scope

API_PREFIX = "/api/"
TOKEN_KEYWORD = "token "  # DRF's TokenAuthentication keyword, matched case-insensitively as DRF does


def is_token_api_request(request: HttpRequest) -> bool:
    """An API call that authenticates with `Authorization: Token …` (decided once per request).

    DRF authenticates such a call with the token alone: a wrong token is a 401, never a fall-back
    to the session cookie, so the session, CSRF token, messages and login state the browser
    middlewares prepare go unused, and X-Frame-Options guards nothing a page could frame with the
    visitor's cookies.
    """
    flag = request.__dict__.get("_agency_token_api")
    if flag is None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        flag = request.path_info.startswith(API_PREFIX) and header[:len(TOKEN_KEYWORD)].lower() == TOKEN_KEYWORD
        request._agency_token_api = flag
    return flag


class BrowserOnlyMixin:
    """Pass token-authenticated API calls straight on; every other request gets the full middleware.

    Works for sync and async stacks alike: either branch returns what the next handler returns.
    """

    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> Any:
        if is_token_api_request(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


# Subclasses, not wrappers: the admin's system checks (admin.E408-E410) look for these classes or
# their subclasses in MIDDLEWARE.
class SessionMiddleware(BrowserOnlyMixin, DjangoSessionMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnlyMixin, DjangoCsrfViewMiddleware):
    def process_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        # The handler calls this hook itself, after __call__ let the request pass.
        if is_token_api_request(request):
            return None
        return super().process_view(request, *args, **kwargs)


class AuthenticationMiddleware(BrowserOnlyMixin, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnlyMixin, DjangoMessageMiddleware):
    pass


class XFrameOptionsMiddleware(BrowserOnlyMixin, DjangoXFrameOptionsMiddleware):
    pass


# Django's security.W002/W003 (deploy checks) look for Django's own class paths in MIDDLEWARE and
# so miss these subclasses; settings silence those two, and these checks take their place,
# accepting the classes or any subclass (as the admin's checks do).
_REQUIRED_MIDDLEWARE = [
    (DjangoXFrameOptionsMiddleware, "platform.W002",
     "No X-Frame-Options middleware (django.middleware.clickjacking.XFrameOptionsMiddleware or a subclass) "
     "in MIDDLEWARE: pages are served without an X-Frame-Options header."),
    (DjangoCsrfViewMiddleware, "platform.W003",
     "No CSRF middleware (django.middleware.csrf.CsrfViewMiddleware or a subclass) in MIDDLEWARE: "
     "cookie-authenticated forms and API calls are not protected against cross-site requests."),
]


@checks.register(checks.Tags.security, deploy=True)
def check_browser_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """security.W002/W003 for a stack of subclasses: each protection is present in some form."""
    present = [import_string(path) for path in settings.MIDDLEWARE]
    return [checks.Warning(message, id=check_id) for django_class, check_id, message in _REQUIRED_MIDDLEWARE
            if not any(isinstance(cls, type) and issubclass(cls, django_class) for cls in present)]


class PrometheusAfterMiddleware(DjangoPrometheusAfterMiddleware):
    """django-prometheus's middleware, the same series, with each labelled child looked up once.

    `Metric.labels()` validates the label names and takes the metric's lock on every call; the
    stock middleware calls it five times a request. Children live as long as their metric does,
    and the label values (method, transport, view name, status, charset) are a bounded set.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._children: dict[tuple, Any] = {}

    def label_metric(self, metric: Any, request: HttpRequest, response: HttpResponse | None = None,
                     **labels: str) -> Any:
        if not labels:
            return metric
        key = (id(metric), *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child


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


class TenantScopeMiddleware:
    """Every statement made while a request is served runs under that request's tenant (RLS).

    Before authentication nothing is visible in the tenant tables; once the credential is known
    its tenant (or, for an operator naming none, every tenant) is: apps.platform.db.tenancy.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_scope(request):
            return self.get_response(request)
