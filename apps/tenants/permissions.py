"""Scope checks per endpoint: views say which scope each action needs; operators pass every one.

    class AgentViewSet(viewsets.GenericViewSet, ...):
        permission_classes = [HasScopes]
        required_scopes = {"list": "agents:read", "retrieve": "agents:read", "create": "agents:write"}

`required_scopes` maps a viewset action, or an HTTP method (`"GET"`, `"POST"`…; `HEAD` and
`OPTIONS` fall back to `GET`), to a scope, or to None for "any authenticated caller"; a plain
string applies to every action. An action the view does not map is refused to API keys (fail
closed: a new endpoint is unreachable for keys until it says what it needs). Operators (staff
users on a session or DRF token) pass whatever is declared. Other users (the DRF tokens services
used before API keys; deprecated) hold every scope, for the `default` tenant only
(`apps.tenants.selectors.request_tenant_id`): they keep the access they had, and undeclared
actions stay closed to them as to keys.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from apps.tenants.principals import ApiKeyPrincipal, is_operator
from apps.tenants.scopes import ALL_SCOPES, scope_granted

_UNDECLARED = object()


def required_scope(view: Any, request: Any) -> Any:
    """The scope this request needs on this view: a scope name, None (none), or _UNDECLARED."""
    spec = getattr(view, "required_scopes", _UNDECLARED)
    if spec is _UNDECLARED or isinstance(spec, str) or spec is None:
        return spec
    action = getattr(view, "action", None)
    if action is not None and action in spec:
        return spec[action]
    method = request.method.upper()
    if method in spec:
        return spec[method]
    if method in ("HEAD", "OPTIONS") and "GET" in spec:
        return spec["GET"]
    return _UNDECLARED


class HasScopes(BasePermission):
    """403 naming the scope the caller lacks; 401 for anonymous callers (DRF's rule)."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if is_operator(user):
            return True
        needed = required_scope(view, request)
        if needed is None:
            return True
        if needed is _UNDECLARED:
            what = getattr(view, "action", None) or request.method
            self.message = f"This endpoint declares no scope for {what!r}; only operators may call it."
            return False
        granted = user.scopes if isinstance(user, ApiKeyPrincipal) else ALL_SCOPES  # legacy token: all
        if scope_granted(granted, needed):
            return True
        self.message = f"Missing scope {needed!r}: this request needs an API key with the scope {needed!r}."
        return False


class KeysNeedScopes(HasScopes):
    """The project's default permission: users as `IsAuthenticated`, API keys only where scopes are declared.

    An endpoint that does not yet scope its data by tenant declares no scope, so no API key can
    reach it (403 naming that), while operators and the DRF-token users it served before keep their
    access. Endpoints opt in to keys by declaring `required_scopes` (and scoping their querysets).
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if isinstance(user, ApiKeyPrincipal):
            return super().has_permission(request, view)
        return bool(user and user.is_authenticated)
