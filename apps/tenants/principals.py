"""Who an API key authenticates as: a small user-like object, not a Django user.

DRF sets it as `request.user` (and the Django request's `user`), so code that asks
`request.user.is_authenticated` / `is_staff` / `get_username()` keeps working. It has no `pk`
(None): it is no row of the user table, and callers that store a user foreign key (the access
log, django-auditlog's actor) must not get a string there; they get the key's name from
`get_username()` ("api-key:<prefix>") and the ids from `key_id` / `tenant_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    """The caller behind an API key, as read from the database on this request."""

    key_id: str  # ApiKey.pk
    prefix: str
    name: str
    tenant_id: int
    tenant_slug: str
    scopes: frozenset[str]
    request_rate: str | None  # the tenant's; None: AGENCY_API_RATE

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    @property
    def username(self) -> str:
        return f"api-key:{self.prefix}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        """Django model permissions (the admin) are for operators, never for keys."""
        return False

    def has_perms(self, perm_list: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


def request_principal(request: Any) -> ApiKeyPrincipal | None:
    """The API key principal of a DRF request, or None when the caller is a user or anonymous."""
    user = getattr(request, "user", None)
    return user if isinstance(user, ApiKeyPrincipal) else None


def is_operator(user: Any) -> bool:
    """A platform operator: an authenticated staff user (session or DRF token), never an API key."""
    return bool(user is not None and user.is_authenticated and user.is_staff
                and not isinstance(user, ApiKeyPrincipal))


def credential_id(user: Any) -> str:
    """A stable name for the credential behind `user`: `key:<prefix>` for an API key, `user:<pk>` for a user.

    The task queue stores it with a lease and accepts heartbeat/complete/fail only from the same
    credential, so a `worker_id` string is not enough to act on somebody else's lease. The key's
    prefix (unique, public, never reused) rather than its id: it says which key in the admin.
    """
    if isinstance(user, ApiKeyPrincipal):
        return f"key:{user.prefix}"
    return f"user:{user.pk}"
