"""Reads of collections: by name within the caller's tenant, through the two-level cache.

Every API call starts here. `tenant_id` comes from apps.tenants.selectors.request_tenant_id (None
only for an operator who named no tenant). A collection of another tenant is "not found" (404),
exactly as a missing one, so a caller learns nothing about other tenants' names. Embeddings have
no tenant of their own: every read and write of them goes through the collection found here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from apps.common.errors import NotFound, ValidationFailed
from apps.embeddings.caching import collection_name_key
from apps.embeddings.models import Collection, Embedding
from apps.platform.cache import cache_get, cache_set
from apps.tenants.selectors import TENANT_HEADER


def collection_list(*, tenant_id: int | None) -> QuerySet[Collection]:
    collections = Collection.objects.all()
    return collections if tenant_id is None else collections.filter(tenant_id=tenant_id)


def _not_found(name: str) -> NotFound:
    return NotFound(f"collection '{name}' not found", code="collection_not_found")


def collection_get(*, name: str, tenant_id: int | None) -> Collection:
    """A collection by name in tenant `tenant_id`, through the two-level cache (L1 saves a Redis trip).

    The key holds the tenant's id (names are unique per tenant only). Every write of a collection
    (save, delete, the index status updates) drops the entry on commit. An operator across tenants
    (`tenant_id` None) is looked up uncached: the name must then be unique over all tenants, else a
    400 `tenant_required` asks for the header.
    """
    if tenant_id is None:
        found = list(Collection.objects.filter(name=name)[:2])
        if not found:
            raise _not_found(name)
        if len(found) > 1:
            raise ValidationFailed(f"{TENANT_HEADER}: collection '{name}' exists in several tenants; name one",
                                   code="tenant_required", details={"header": TENANT_HEADER})
        return found[0]
    key = collection_name_key(tenant_id, name)
    cached = cache_get(key)
    if isinstance(cached, Collection) and cached.tenant_id == tenant_id:
        return cached
    try:
        collection = Collection.objects.get(tenant_id=tenant_id, name=name)
    except Collection.DoesNotExist:
        raise _not_found(name) from None
    if not connection.in_atomic_block:  # never cache what an open transaction may still roll back
        cache_set(key, collection, ttl=settings.AGENCY_CACHE_INSTANCE_TTL)
    return collection


def collection_totals() -> tuple[int, int]:
    """How many collections and embeddings there are, for the admin dashboard's cards."""
    return Collection.objects.count(), Embedding.objects.count()
