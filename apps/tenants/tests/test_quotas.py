"""Tenant quotas (apps/tenants/quotas.py) through the API and the services, on the real PostgreSQL.

Each quota: at the limit exactly passes, one more is a 403 `quota_exceeded` naming the quota, its
limit and the usage, and writes nothing (every row of the tenant as PostgreSQL prints it); an empty
quota is unlimited and costs no query; another tenant's rows do not count; two concurrent writers
at the limit (threads, each with its own connection, committing) give exactly one success.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.common.errors import ValidationFailed
from apps.embeddings.models import Collection
from apps.embeddings.services.collections import collection_create
from apps.embeddings.services.ingest import embeddings_import, embeddings_upsert
from apps.tasks.models import Task
from apps.tasks.services import task_claim, task_create
from apps.tenants.models import Tenant
from apps.tenants.quotas import QuotaExceeded, quota_limit
from apps.tenants.selectors import default_tenant_id
from apps.tenants.services import tenant_update
from apps.tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

COLLECTIONS = "/api/v1/collections/"
TASKS = "/api/v1/tasks/"


def _items(start: int, n: int) -> list[dict]:
    return [{"entity_type": "doc", "entity_id": str(i), "vector": [1.0, float(i), 0.5]}
            for i in range(start, start + n)]


def _refused(response, message: str, details: dict) -> None:
    assert response.status_code == 403, response.content
    assert response.json() == {"error": {"code": "quota_exceeded", "message": message, "details": details}}


def _embedding_rows(tenant_id: int) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT e::text FROM embeddings_embedding e JOIN embeddings_collection c ON c.id = e.collection_id "
                    "WHERE c.tenant_id = %s ORDER BY e.id", [tenant_id])
        return [row[0] for row in cur.fetchall()]


def _caller(make_tenant_caller, **quotas):
    return make_tenant_caller(tenant=TenantFactory(**quotas))


def _new_collection(caller, name: str = "docs") -> None:
    r = caller.client.post(COLLECTIONS, {"name": name, "dimension": 3, "index": "none"}, format="json")
    assert r.status_code == 201, r.content


# ---- max_collections --------------------------------------------------------------------------
def test_max_collections_at_the_limit_passes_one_more_is_403_and_writes_nothing(make_tenant_caller, table_snapshot):
    caller = _caller(make_tenant_caller, max_collections=2)
    _new_collection(caller, "one")
    _new_collection(caller, "two")  # 2 of 2: exactly at the limit
    before = table_snapshot("embeddings_collection", caller.tenant.pk)
    r = caller.client.post(COLLECTIONS, {"name": "three", "dimension": 3, "index": "none"}, format="json")
    _refused(r, "max_collections: 2 allowed, 2 exist, this collection adds 1",
             {"quota": "max_collections", "limit": 2, "usage": 2, "adding": 1})
    assert table_snapshot("embeddings_collection", caller.tenant.pk) == before
    assert len(before) == 2


def test_max_collections_counts_only_the_tenants_own(make_tenant_caller):
    busy = _caller(make_tenant_caller)
    for name in ("a", "b", "c"):
        _new_collection(busy, name)
    capped = _caller(make_tenant_caller, max_collections=1)
    _new_collection(capped, "mine")  # the other tenant's three do not count
    r = capped.client.post(COLLECTIONS, {"name": "more", "dimension": 3, "index": "none"}, format="json")
    assert r.status_code == 403 and r.json()["error"]["message"].startswith("max_collections: 1 allowed, 1 exist")


def test_max_collections_zero_refuses_the_first():
    tenant = TenantFactory(max_collections=0)
    with pytest.raises(QuotaExceeded, match="max_collections: 0 allowed, 0 exist, this collection adds 1"):
        collection_create(tenant_id=tenant.pk, name="x", dimension=3, index_type="none")
    assert not Collection.objects.filter(tenant_id=tenant.pk).exists()


# ---- max_embeddings ---------------------------------------------------------------------------
def test_max_embeddings_refuses_a_crossing_batch_whole(make_tenant_caller, table_snapshot):
    caller = _caller(make_tenant_caller, max_embeddings=5)
    _new_collection(caller, "a")
    _new_collection(caller, "b")
    assert caller.client.post(f"{COLLECTIONS}a/embeddings/", {"items": _items(0, 2)}, format="json").status_code == 201
    assert caller.client.post(f"{COLLECTIONS}b/embeddings/", {"items": _items(0, 1)}, format="json").status_code == 201
    before = _embedding_rows(caller.tenant.pk), table_snapshot("embeddings_collection", caller.tenant.pk)
    # 3 stored over both collections; 3 more would make 6: refused whole, not the first 2 of them
    r = caller.client.post(f"{COLLECTIONS}b/embeddings/", {"items": _items(10, 3)}, format="json")
    _refused(r, "max_embeddings: 5 allowed, 3 stored, this batch adds 3",
             {"quota": "max_embeddings", "limit": 5, "usage": 3, "adding": 3})
    assert (_embedding_rows(caller.tenant.pk), table_snapshot("embeddings_collection", caller.tenant.pk)) == before
    # exactly up to the limit passes
    r = caller.client.post(f"{COLLECTIONS}b/embeddings/", {"items": _items(10, 2)}, format="json")
    assert r.status_code == 201 and r.json()["inserted"] == 2
    assert len(_embedding_rows(caller.tenant.pk)) == 5


def test_max_embeddings_counts_only_new_keys_of_an_upsert(make_tenant_caller):
    caller = _caller(make_tenant_caller, max_embeddings=3)
    _new_collection(caller)
    url = f"{COLLECTIONS}docs/embeddings/"
    assert caller.client.post(url, {"items": _items(0, 3)}, format="json").status_code == 201
    changed = [{**item, "vector": [0.0, 1.0, 2.0]} for item in _items(0, 3)]
    r = caller.client.post(url, {"items": changed}, format="json")  # at the limit, updates add nothing
    assert r.status_code == 200 and r.json() == {"inserted": 0, "updated": 3, "unchanged": 0}
    r = caller.client.post(url, {"items": [*_items(1, 1), *_items(7, 1)]}, format="json")
    _refused(r, "max_embeddings: 3 allowed, 3 stored, this batch adds 1",
             {"quota": "max_embeddings", "limit": 3, "usage": 3, "adding": 1})


def test_max_embeddings_counts_only_the_tenants_own(make_tenant_caller):
    busy = _caller(make_tenant_caller)
    _new_collection(busy)
    assert busy.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": _items(0, 4)}, format="json").status_code == 201
    capped = _caller(make_tenant_caller, max_embeddings=2)
    _new_collection(capped)  # same collection name, other tenant
    r = capped.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": _items(0, 2)}, format="json")
    assert r.status_code == 201, r.content


def test_import_refuses_the_chunk_that_crosses_and_keeps_the_ones_before():
    tenant = TenantFactory(max_embeddings=3)
    collection = collection_create(tenant_id=tenant.pk, name="docs", dimension=3, index_type="none")
    with pytest.raises(QuotaExceeded, match="max_embeddings: 3 allowed, 2 stored, this batch adds 2"):
        embeddings_import(collection=collection, items=iter(_items(0, 4)), chunk_size=2)
    assert len(_embedding_rows(tenant.pk)) == 2


# ---- max_pending_tasks ------------------------------------------------------------------------
def test_max_pending_tasks_counts_pending_only(make_tenant_caller, table_snapshot):
    caller = _caller(make_tenant_caller, max_pending_tasks=2)
    for _ in range(2):
        assert caller.client.post(TASKS, {"type": "t"}, format="json").status_code == 201
    before = table_snapshot("tasks_task", caller.tenant.pk)
    r = caller.client.post(TASKS, {"type": "t"}, format="json")
    _refused(r, "max_pending_tasks: 2 allowed, 2 pending, this task adds 1",
             {"quota": "max_pending_tasks", "limit": 2, "usage": 2, "adding": 1})
    assert table_snapshot("tasks_task", caller.tenant.pk) == before
    # a claimed task is running, no longer pending: there is room again
    r = caller.client.post(f"{TASKS}claim/", {"worker_id": "w1"}, format="json")
    assert r.status_code == 200 and len(r.json()["tasks"]) == 1
    assert caller.client.post(TASKS, {"type": "t"}, format="json").status_code == 201


def test_max_pending_tasks_counts_only_the_tenants_own(make_tenant_caller):
    busy = _caller(make_tenant_caller)
    for _ in range(3):
        assert busy.client.post(TASKS, {"type": "t"}, format="json").status_code == 201
    capped = _caller(make_tenant_caller, max_pending_tasks=1)
    assert capped.client.post(TASKS, {"type": "t"}, format="json").status_code == 201
    assert capped.client.post(TASKS, {"type": "t"}, format="json").status_code == 403


# ---- no quota: unlimited, and no query -------------------------------------------------------
def test_empty_quotas_are_unlimited(make_tenant_caller):
    caller = _caller(make_tenant_caller)
    for name in ("a", "b", "c"):
        _new_collection(caller, name)
    assert caller.client.post(f"{COLLECTIONS}a/embeddings/", {"items": _items(0, 50)}, format="json").status_code == 201
    for _ in range(3):
        assert caller.client.post(TASKS, {"type": "t"}, format="json").status_code == 201


@pytest.mark.django_db(transaction=True)  # as in production: no test transaction around the calls
def test_empty_quotas_cost_no_query_on_create_ingest_and_claim():
    """The default tenant: no quotas, served by the row cache once warm."""
    tenant_id = default_tenant_id()
    assert quota_limit(tenant_id=tenant_id, quota="max_embeddings") is None  # warms the row cache
    with CaptureQueriesContext(connection) as ctx:
        collection = collection_create(tenant_id=tenant_id, name="no-quota", dimension=3, index_type="none")
        embeddings_upsert(collection=collection, items=_items(0, 3))
        task_create(tenant_id=tenant_id, type="no-quota")
        task_claim(tenant_id=tenant_id, credential="user:1", worker_id="w")
    sql = " ".join(q["sql"].lower() for q in ctx.captured_queries)
    assert ctx.captured_queries and "insert" in sql
    # (full_clean's check that the tenant exists, `SELECT 1 … FROM tenants_tenant`, is not the quota's)
    for marker in ("pg_advisory", "max_collections", "max_embeddings", "max_pending_tasks", "count("):
        assert marker not in sql, marker


def test_a_quota_set_later_applies_to_the_next_write():
    tenant = TenantFactory()
    assert quota_limit(tenant_id=tenant.pk, quota="max_pending_tasks") is None
    task_create(tenant_id=tenant.pk, type="t")
    tenant_update(tenant=tenant, max_pending_tasks=1)
    with pytest.raises(QuotaExceeded, match="max_pending_tasks: 1 allowed, 1 pending"):
        task_create(tenant_id=tenant.pk, type="t")
    tenant_update(tenant=tenant, max_pending_tasks=None)
    task_create(tenant_id=tenant.pk, type="t")


@pytest.mark.django_db(transaction=True)
def test_a_committed_quota_change_reaches_a_warm_row_cache():
    """Across transactions the row cache answers: a tenant's save must drop its cached row on commit."""
    tenant = TenantFactory()
    assert quota_limit(tenant_id=tenant.pk, quota="max_collections") is None  # cached now
    tenant_update(tenant=tenant, max_collections=0)
    assert quota_limit(tenant_id=tenant.pk, quota="max_collections") == 0
    with pytest.raises(QuotaExceeded):
        collection_create(tenant_id=tenant.pk, name="x", dimension=3, index_type="none")


# ---- concurrency: two writers at the limit, exactly one passes --------------------------------
def _race(write: Callable[[int], object]) -> list[object]:
    """Run write(0) and write(1) at the same moment in two threads (two connections), each committing."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def run(n: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                outcomes[n] = write(n)
        except QuotaExceeded as exc:
            outcomes[n] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _one_winner(outcomes: list[object], quota: str) -> None:
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert len(refused) == 1, outcomes
    assert refused[0].details["quota"] == quota
    assert all(o is not None for o in outcomes)


@pytest.mark.django_db(transaction=True)
def test_concurrent_collection_creates_at_the_limit_one_wins():
    tenant = TenantFactory(max_collections=1)
    _one_winner(_race(lambda n: collection_create(tenant_id=tenant.pk, name=f"c{n}", dimension=3,
                                                  index_type="none")), "max_collections")
    assert Collection.objects.filter(tenant_id=tenant.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_at_the_limit_one_wins():
    tenant = TenantFactory(max_embeddings=4)
    collection = collection_create(tenant_id=tenant.pk, name="docs", dimension=3, index_type="none")
    outcomes = _race(lambda n: embeddings_upsert(collection=collection, items=_items(10 * n, 3)))
    _one_winner(outcomes, "max_embeddings")
    assert len(_embedding_rows(tenant.pk)) == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_task_creates_at_the_limit_one_wins():
    tenant = TenantFactory(max_pending_tasks=1)
    _one_winner(_race(lambda n: task_create(tenant_id=tenant.pk, type=f"t{n}")), "max_pending_tasks")
    assert Task.objects.filter(tenant_id=tenant.pk).count() == 1


# ---- operators edit quotas: never negative ---------------------------------------------------
QUOTA_FIELDS = ["max_collections", "max_embeddings", "max_pending_tasks"]


@pytest.mark.parametrize("field", QUOTA_FIELDS)
def test_negative_quota_is_refused_by_the_model_the_service_and_the_database(field):
    tenant = TenantFactory()
    with pytest.raises(ValidationError) as exc:
        Tenant(slug="neg", name="neg", **{field: -1}).full_clean()
    assert field in exc.value.message_dict
    with pytest.raises(ValidationFailed, match=field):
        tenant_update(tenant=tenant, **{field: -1})
    with pytest.raises(IntegrityError, match=f"tenants_tenant_{field}_check"), transaction.atomic(), \
            connection.cursor() as cur:
        cur.execute(f"UPDATE tenants_tenant SET {field} = -1 WHERE id = %s", [tenant.pk])  # noqa: S608
    tenant.refresh_from_db()
    assert getattr(tenant, field) is None


def test_admin_refuses_a_negative_quota(client):
    operator = get_user_model().objects.create_user(username="op", password="pw-op-123", is_staff=True,
                                                    is_superuser=True)
    client.force_login(operator)
    tenant = TenantFactory(max_collections=3)
    response = client.post(reverse("admin:tenants_tenant_change", args=[tenant.pk]), {
        "name": tenant.name, "active": "on", "max_collections": "-1", "max_embeddings": "",
        "max_pending_tasks": "", "request_rate": ""})
    assert response.status_code == 200
    assert b"Ensure this value is greater than or equal to 0" in response.content
    tenant.refresh_from_db()
    assert tenant.max_collections == 3
