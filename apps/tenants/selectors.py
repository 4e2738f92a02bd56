"""Reads: tenants and keys by their public names, the per-request key lookup, and the caller's tenant.

`request_tenant_id` is the one function every tenant-scoped queryset, selector and service of
the other apps gets its tenant from; nothing else decides which tenant a request acts for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework import exceptions

from apps.common.errors import NotFound, ValidationFailed
from apps.platform.db import tenancy
from apps.platform.db.cursors import fetch_prepared
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.principals import ApiKeyPrincipal, is_operator

# The header an operator names a tenant with; from anybody else it may only repeat their own.
TENANT_HEADER = "X-Agency-Tenant"
# The tenant the migrations moved today's rows into, and the one legacy DRF tokens act for.
DEFAULT_TENANT_SLUG = "default"
_MEMO = "_agency_tenant_id"


def tenant_get(*, slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise NotFound(f"tenant {slug!r} does not exist", code="unknown_tenant") from None


def tenant_list() -> QuerySet[Tenant]:
    return Tenant.objects.order_by("slug")


# Slugs are fixed once a tenant is made (the admin and the services never change them) and ids are
# never reused, so id -> slug can be remembered for the life of the process: the agents' and tasks'
# responses name their tenant without a join or a query per row.
_slugs: dict[int, str] = {}


def tenant_slug(tenant_id: int) -> str:
    """The slug of tenant `tenant_id` (remembered per process: slugs never change)."""
    slug = _slugs.get(tenant_id)
    if slug is None:
        slug = Tenant.objects.filter(pk=tenant_id).values_list("slug", flat=True).first()
        if slug is None:
            raise NotFound(f"tenant {tenant_id} does not exist", code="unknown_tenant")
        _slugs[tenant_id] = slug
    return slug


_default_id: list[int] = []


def default_tenant_id() -> int:
    """The id of the `default` tenant (remembered per process after the first lookup).

    Made by the migration `tenants.0002_default_tenant` and never deleted while rows point at it
    (every foreign key to a tenant is PROTECT). A process keeps the id it found: the legacy
    DRF-token path asks for it on every request.
    """
    if not _default_id:
        found = Tenant.objects.filter(slug=DEFAULT_TENANT_SLUG).values_list("id", flat=True).first()
        if found is None:
            raise NotFound(f"tenant {DEFAULT_TENANT_SLUG!r} does not exist (migration tenants.0002 makes it)",
                           code="unknown_tenant")
        _default_id.append(found)
    return _default_id[0]


def api_key_get(*, prefix: str) -> ApiKey:
    try:
        return ApiKey.objects.select_related("tenant").get(prefix=prefix)
    except ApiKey.DoesNotExist:
        raise NotFound(f"API key {prefix!r} does not exist", code="unknown_api_key") from None


def api_key_list(*, tenant_id: int | None = None) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("tenant", "rotated_from")
    return keys if tenant_id is None else keys.filter(tenant_id=tenant_id)


# ---- the per-request lookup -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ApiKeyState:
    """A key's row as it is in the database now (never a cached copy: see `api_key_lookup`)."""

    principal: ApiKeyPrincipal
    revoked: bool
    expired: bool
    tenant_active: bool
    touch_due: bool  # last_used_at is older than AGENCY_API_KEY_LAST_USED_INTERVAL


_LOOKUP_SQL = f"""
SELECT k.id, k.hashed_key, k.name, k.scopes, k.revoked,
       coalesce(k.expiry_date <= now(), false),
       k.last_used_at IS NULL OR k.last_used_at < now() - make_interval(secs => %s),
       t.id, t.slug, t.active, t.request_rate
  FROM {ApiKey._meta.db_table} k JOIN {Tenant._meta.db_table} t ON t.id = k.tenant_id
 WHERE k.prefix = %s
"""  # noqa: S608 (table names from the models, values bound)


def api_key_lookup(raw_key: str) -> ApiKeyState | None:
    """The live state of the key `raw_key`, or None if no key has that text.

    One prepared, binary statement per request (apps.platform.db.cursors), by the unique prefix,
    with the tenant joined on its primary key; then the library's constant-time hash check. Not
    cached: revocation, expiry and deactivation must hold at once even when a row was changed by
    `QuerySet.update()` or SQL, which no signal sees, and the statement is as cheap as a cache
    round trip would be (measured: see the README section on keys).
    """
    prefix, dot, _secret = raw_key.partition(".")
    if not dot or not prefix or len(prefix) > 8:
        return None
    rows = fetch_prepared(_LOOKUP_SQL, [settings.AGENCY_API_KEY_LAST_USED_INTERVAL, prefix])
    if not rows:
        return None
    (key_id, hashed_key, name, scopes, revoked, expired, touch_due,
     tenant_id, tenant_slug, tenant_active, request_rate) = rows[0]
    if not ApiKey.objects.key_generator.verify(raw_key, hashed_key):
        return None
    principal = ApiKeyPrincipal(key_id=key_id, prefix=prefix, name=name, tenant_id=tenant_id,
                                tenant_slug=tenant_slug, scopes=frozenset(scopes), request_rate=request_rate)
    return ApiKeyState(principal=principal, revoked=revoked, expired=expired, tenant_active=tenant_active,
                       touch_due=touch_due)


# ---- the caller's tenant ----------------------------------------------------------------------
def request_tenant_id(request: Any, *, required: bool = False) -> int | None:
    """The tenant this request acts for: the key's tenant, or the one an operator names; None = all.

    * API key: its tenant. `X-Agency-Tenant` may only repeat the key's own slug; naming another
      tenant is a 403 (a client that believes it can choose must learn at once that it cannot;
      compared as text, so the answer says nothing about whether that tenant exists).
    * Operator (staff, session or DRF token): the tenant named by `X-Agency-Tenant` (400
      `unknown_tenant` naming the slug when there is none; inactive tenants may be named), or
      None when the header is absent: operators work across tenants. With `required=True` (a
      write that must land in one tenant) an operator who names none gets a 400 naming the header.
    * Any other user (the DRF token of a non-staff user, the way services authenticated before API
      keys; deprecated): the `default` tenant, which holds every row that existed before tenants.
      So those services keep working and keep seeing what they saw. The header may only repeat
      `default`, as for a key.
    * Anonymous: 401.

    Memoised on the request, so views may call it from get_queryset and perform_create alike.
    """
    memo = getattr(request, _MEMO, _MEMO)
    if memo is _MEMO:
        memo = _resolve(request)
        setattr(request, _MEMO, memo)
    if memo is None and required:
        raise ValidationFailed(f"{TENANT_HEADER}: name the tenant this write is for (operators work across tenants "
                               f"otherwise)", code="tenant_required", details={"header": TENANT_HEADER})
    return memo


def _resolve(request: Any) -> int | None:
    user = getattr(request, "user", None)
    named = (request.headers.get(TENANT_HEADER) or "").strip() or None
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if isinstance(user, ApiKeyPrincipal):
        own_slug, own_id, what = user.tenant_slug, user.tenant_id, "key"
    elif is_operator(user):
        if named is None:
            return None
        found = Tenant.objects.filter(slug=named).values_list("id", flat=True).first()
        if found is None:
            raise ValidationFailed(f"{TENANT_HEADER}: tenant {named!r} does not exist", code="unknown_tenant",
                                   details={"tenant": named})
        return found
    else:  # legacy DRF token of a non-staff user
        own_slug, own_id, what = DEFAULT_TENANT_SLUG, default_tenant_id(), "token"
    if named is not None and named != own_slug:
        raise exceptions.PermissionDenied(
            f"{TENANT_HEADER}: only operators may name a tenant; this {what} belongs to {own_slug!r}")
    return own_id


def request_db_scope(request: Any) -> str:
    """The row-level-security scope of a request (registered with apps.platform.db.tenancy at ready()).

    The same answer as `request_tenant_id`, as the setting's text: the credential's tenant, the
    tenant an operator names, every tenant for an operator naming none; nothing at all before the
    credential is known, for the anonymous, and for a request `request_tenant_id` would refuse.
    """
    user = request.__dict__.get("user")
    if user is None or tenancy.is_unevaluated(user) or not user.is_authenticated:
        return tenancy.NONE
    try:
        return tenancy.scope_value(request_tenant_id(request))
    except (exceptions.APIException, NotFound, ValidationFailed):
        return tenancy.NONE
