"""Tenant quotas: at most `max_collections` collections, `max_embeddings` embeddings, `max_pending_tasks`
pending tasks. A write that would cross one is refused whole, before anything is written: 403
`quota_exceeded`, the message naming the quota, its limit, the usage and what the write adds.

The services of the apps that own those rows call `quota_enforce` inside their writing
transaction, with callables that count their own rows (this app sits below them and never reads
their tables). What it costs:

* **No quota set (the default): nothing.** The limit is read from the tenant's row through the
  row cache (apps.platform.cache `instance_get`: a dict lookup in the process's L1 once warm, no
  query, no Redis round trip); an empty limit returns at once, and the counting callables are
  never called.
* **A quota set:** one statement takes a transaction-level advisory lock keyed on (quota, tenant)
  and reads the limit from the row (fresh, not the cached copy), then the caller's count runs
  (each is an index scan: see the callers). The lock serialises the writers of one tenant and one
  quota only: two concurrent batches cannot both see room for themselves, while the tenant's
  other writes (tasks during an ingest, foreign-key checks of new rows, an operator editing the
  tenant) never wait for it. It is released at commit or rollback, so it also holds behind
  PgBouncer in transaction mode. READ COMMITTED takes a new snapshot per statement, so the count
  after the lock sees everything the previous holder committed.

The row cache is invalidated when a tenant is saved (apps.tenants registers the model), so a
quota set by an operator applies from its commit on, give or take the pub/sub delivery to the
other processes; a quota removed or changed applies at once (the locked read is fresh).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from rest_framework import status

from apps.common.errors import DomainError
from apps.platform.cache import instance_get
from apps.tenants.models import Tenant

# quota field -> (advisory lock class id, what the usage is, what one write is)
QUOTAS: dict[str, tuple[int, str, str]] = {
    "max_collections": (0x51540001, "exist", "collection"),
    "max_embeddings": (0x51540002, "stored", "batch"),
    "max_pending_tasks": (0x51540003, "pending", "task"),
}


class QuotaExceeded(DomainError):
    """A write would take a tenant past one of its quotas (403: the request is understood, and refused)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "quota_exceeded"


def quota_limit(*, tenant_id: int, quota: str) -> int | None:
    """The tenant's limit for `quota` as the row cache has it (None: unlimited); no query once warm."""
    return getattr(instance_get(Tenant, tenant_id), quota)


def quota_enforce(*, tenant_id: int, quota: str, usage: Callable[[], int], adding: int = 1,
                  adding_exact: Callable[[], int] | None = None) -> None:
    """Raise QuotaExceeded if adding `adding` rows would take tenant `tenant_id` past `quota`.

    Call it inside the transaction that writes, before writing: the lock it takes (only when the
    quota is set) is held until that transaction ends. `usage()` counts the tenant's rows now.
    `adding` is what the write adds at most (a batch's size); when that would cross the limit,
    `adding_exact()` (if given) counts what it really adds (a batch that updates rows already
    stored adds fewer), and only that decides. A write that adds nothing always passes, even when
    an operator has lowered the limit below the usage.
    """
    if quota not in QUOTAS:
        raise ValueError(f"unknown quota {quota!r}; one of {sorted(QUOTAS)}")
    if quota_limit(tenant_id=tenant_id, quota=quota) is None:
        return
    lock_class, usage_noun, write_noun = QUOTAS[quota]
    if not connection.in_atomic_block:
        raise RuntimeError("quota_enforce must run inside the transaction that writes (its lock ends with it)")
    with connection.cursor() as cur:
        # the limit read from the row, not the cached copy (it may have been raised or removed since)
        cur.execute(f"SELECT t.{quota} FROM {Tenant._meta.db_table} t, pg_advisory_xact_lock(%s, %s) "  # noqa: S608
                    "WHERE t.id = %s", [lock_class, tenant_id, tenant_id])
        row = cur.fetchone()
    limit = None if row is None else row[0]
    if limit is None:
        return
    current = int(usage())
    adds = adding
    if adds > 0 and current + adds > limit and adding_exact is not None:
        adds = int(adding_exact())
    if adds > 0 and current + adds > limit:
        raise QuotaExceeded(
            f"{quota}: {limit} allowed, {current} {usage_noun}, this {write_noun} adds {adds}",
            details={"quota": quota, "limit": limit, "usage": current, "adding": adds},
        )
