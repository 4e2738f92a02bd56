"""Writes: tenants and their API keys.

Nothing here needs a cache invalidation: the authentication reads a key's revocation, expiry,
scopes and its tenant's `active` flag from the database on every request (selectors.
`api_key_lookup`), so a revocation or deactivation holds from the commit on, whichever way the
row was changed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.common.errors import ValidationFailed
from apps.common.validation import full_clean
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.scopes import scopes_clean

_UNSET: Any = object()
MAX_NAME = ApiKey._meta.get_field("name").max_length


# ---- tenants ----------------------------------------------------------------------------------
@transaction.atomic
def tenant_create(*, slug: str, name: str = "", active: bool = True, max_collections: int | None = None,
                  max_embeddings: int | None = None, max_pending_tasks: int | None = None,
                  request_rate: str | None = None) -> Tenant:
    """A new tenant; a malformed or taken slug, a bad rate or a negative quota is a 400 naming it."""
    tenant = Tenant(slug=slug, name=name or slug, active=active, max_collections=max_collections,
                    max_embeddings=max_embeddings, max_pending_tasks=max_pending_tasks,
                    request_rate=request_rate or None)
    full_clean(tenant)
    tenant.save(force_insert=True)
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, name: str = _UNSET, active: bool = _UNSET, max_collections: int | None = _UNSET,
                  max_embeddings: int | None = _UNSET, max_pending_tasks: int | None = _UNSET,
                  request_rate: str | None = _UNSET) -> Tenant:
    """Change the given fields only (save(update_fields=...)); deactivation refuses every key at once."""
    changes = {k: v for k, v in {
        "name": name, "active": active, "max_collections": max_collections, "max_embeddings": max_embeddings,
        "max_pending_tasks": max_pending_tasks, "request_rate": request_rate,
    }.items() if v is not _UNSET}
    if "request_rate" in changes:
        changes["request_rate"] = changes["request_rate"] or None
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    for field, value in changes.items():
        setattr(tenant, field, value)
    full_clean(tenant, validate_unique=False)
    if changes:
        tenant.save(update_fields=[*changes, "updated_at"])
    return tenant


def tenant_deactivate(*, tenant: Tenant) -> Tenant:
    return tenant_update(tenant=tenant, active=False)


def tenant_activate(*, tenant: Tenant) -> Tenant:
    return tenant_update(tenant=tenant, active=True)


# ---- API keys ---------------------------------------------------------------------------------
def api_key_check_new(*, tenant: Tenant, scopes: Any, expiry_date: datetime | None) -> list[str]:
    """The checks a new key must pass, wherever it is made (services, the admin's form): the cleaned scopes."""
    cleaned = scopes_clean(scopes)
    if not tenant.active:
        raise ValidationFailed(f"tenant: tenant {tenant.slug!r} is inactive; activate it before making keys",
                               code="inactive_tenant", details={"tenant": tenant.slug})
    if expiry_date is not None and expiry_date <= timezone.now():
        raise ValidationFailed(f"expiry_date: {expiry_date.isoformat()} is in the past",
                               code="expiry_in_past", details={"expiry_date": expiry_date.isoformat()})
    return cleaned


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, scopes: Any, expiry_date: datetime | None = None,
                   created_by: str = "", rotated_from: ApiKey | None = None) -> tuple[ApiKey, str]:
    """A new key for `tenant`: (row, raw key). The raw key exists only in the return value.

    The tenant row is locked so that a concurrent deactivation cannot slip between the check and
    the insert.
    """
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    cleaned = api_key_check_new(tenant=tenant, scopes=scopes, expiry_date=expiry_date)
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed(f"name: give a name of 1 to {MAX_NAME} characters", details={"name": name})
    api_key = ApiKey(tenant=tenant, name=name, scopes=cleaned, expiry_date=expiry_date,
                     created_by=created_by[:150], rotated_from=rotated_from)
    raw = ApiKey.objects.assign_key(api_key)  # the library: prefix, sha512 hash, id = prefix.hash
    full_clean(api_key, validate_unique=False)
    api_key.save(force_insert=True)
    return api_key, raw


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke for good (the library forbids un-revoking); refused from the next request on. Idempotent."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if not api_key.revoked:
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, expiry_date: datetime | None = _UNSET,
                   created_by: str = "") -> tuple[ApiKey, str]:
    """A successor with the same tenant, name and scopes; the old key keeps working until revoked.

    The successor keeps the old expiry unless another is given (a past one is refused, as for any
    new key). A revoked key cannot be rotated: nothing should still depend on it.
    """
    old = ApiKey.objects.select_for_update().select_related("tenant").get(pk=api_key.pk)
    if old.revoked:
        raise ValidationFailed(f"API key {old.prefix!r} is revoked; create a new key instead",
                               code="revoked_api_key", details={"prefix": old.prefix})
    return api_key_create(tenant=old.tenant, name=old.name, scopes=old.scopes,
                          expiry_date=old.expiry_date if expiry_date is _UNSET else expiry_date,
                          created_by=created_by, rotated_from=old)


def api_key_mark_used(*, key_id: str) -> None:
    """Record that the key was used now, unless that was recorded less than the interval ago.

    Called by the authentication only when the row it just read says the time is due, so a busy
    key costs one UPDATE per interval, not one per request; the condition repeated here keeps
    concurrent requests from all writing. One statement: atomic without a transaction block.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.AGENCY_API_KEY_LAST_USED_INTERVAL)
    ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff), pk=key_id).update(
        last_used_at=timezone.now())
