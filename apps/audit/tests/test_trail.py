"""The audit trail: every write names its actor (API key, user or system) and tenant; refused requests are
in the access log; each tenant reads only its own audit.

Through the real stack (API, admin, services) on the real PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from importlib import import_module

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_redis import get_redis_connection

from apps.audit.context import acting_as, current_actor
from apps.audit.models import AccessLog, AuditEntry
from apps.audit.services import BUFFER_KEY, access_log_flush
from apps.embeddings.models import Collection
from apps.embeddings.tests.factories import clustered, items_from
from apps.platform.db.tenancy import as_owner
from apps.tasks.models import Task
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.services import api_key_create, tenant_update
from apps.tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

COLLECTIONS = "/api/v1/collections/"
ENTRIES = "/api/v1/audit/entries/"
ACCESS = "/api/v1/audit/access-log/"


@pytest.fixture(autouse=True)
def empty_buffer():
    get_redis_connection("default").delete(BUFFER_KEY)
    yield
    get_redis_connection("default").delete(BUFFER_KEY)


@pytest.fixture
def admin_client_(client, operator):
    client.force_login(operator)
    return client


def _entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def _only(action: str, **filters) -> AuditEntry:
    found = _entries(action=action, **filters)
    assert len(found) == 1, [(e.action, e.actor) for e in AuditEntry.objects.all()]
    return found[0]


def _by_key(entry: AuditEntry, key: ApiKey) -> None:
    assert (entry.actor_kind, entry.actor, entry.actor_key_id, entry.tenant_id) == (
        "key", f"api-key:{key.prefix}", key.pk, key.tenant_id)


def _docs(caller, name: str = "docs") -> None:
    r = caller.client.post(COLLECTIONS, {"name": name, "dimension": 8, "index": "none"}, format="json")
    assert r.status_code == 201, r.json()


# ---- writes -----------------------------------------------------------------------------------
def test_collection_writes_carry_the_key_and_its_tenant(tenant_a, operator_client):
    _docs(tenant_a)
    collection = Collection.objects.get(tenant=tenant_a.tenant, name="docs")
    r = tenant_a.client.patch(f"{COLLECTIONS}docs/", {"index": "hnsw"}, format="json")
    assert r.status_code == 200, r.json()
    r = operator_client.post(f"{COLLECTIONS}docs/rebuild-index/", HTTP_X_AGENCY_TENANT=tenant_a.tenant.slug)
    assert r.status_code == 202, r.json()
    assert tenant_a.client.delete(f"{COLLECTIONS}docs/").status_code == 204

    created = _only("collection.create")
    _by_key(created, tenant_a.key)
    assert created.target_type == "embeddings.collection" and created.target_id == str(collection.pk)
    assert created.data["dimension"] == 8
    updated = _only("collection.update")
    _by_key(updated, tenant_a.key)
    assert updated.data["changes"] == {"index_type": ["none", "hnsw"]}
    rebuilt = _only("collection.rebuild_index")
    assert (rebuilt.actor_kind, rebuilt.actor, rebuilt.tenant_id) == ("user", "user:operator", tenant_a.tenant.pk)
    assert rebuilt.actor_user.username == "operator" and rebuilt.actor_key_id is None
    _by_key(_only("collection.delete"), tenant_a.key)


def test_an_ingest_of_500_items_is_one_entry_with_its_counts_and_one_insert(tenant_a):
    _docs(tenant_a)
    items = items_from(clustered(500, 8))
    with CaptureQueriesContext(connection) as queries:
        r = tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": items}, format="json")
    assert r.status_code == 201, r.json()
    audit_sql = [q["sql"] for q in queries if "audit_auditentry" in q["sql"]]
    assert len(audit_sql) == 1 and audit_sql[0].startswith('INSERT INTO "audit_auditentry"')
    entry = _only("embeddings.ingest")
    _by_key(entry, tenant_a.key)
    assert entry.data == {"items": 500, "inserted": 500, "updated": 0, "unchanged": 0}

    items[0]["metadata"] = {"changed": True}
    r = tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": items}, format="json")
    assert r.status_code == 200
    assert [e.data for e in _entries(action="embeddings.ingest")][1] == {
        "items": 500, "inserted": 0, "updated": 1, "unchanged": 499}


def test_an_ingest_refused_whole_leaves_no_entry(tenant_a):
    _docs(tenant_a)
    bad = items_from(clustered(3, 8))
    bad[2]["vector"] = [1.0, 2.0]
    r = tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": bad}, format="json")
    assert r.status_code == 400
    assert _entries(action="embeddings.ingest") == []


def test_embedding_deletes_record_the_count_and_the_filter(tenant_a):
    _docs(tenant_a)
    items = items_from(clustered(10, 8), metadata=[{"color": "red" if i < 4 else "blue"} for i in range(10)])
    assert tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/", {"items": items}, format="json").status_code == 201
    flt = {"color": {"$eq": "red"}}
    r = tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/delete/", {"filter": flt}, format="json")
    assert r.json() == {"deleted": 4}
    r = tenant_a.client.post(f"{COLLECTIONS}docs/embeddings/delete/",
                             {"entities": [{"entity_type": "doc", "entity_id": "5"},
                                           {"entity_type": "doc", "entity_id": "6"}]}, format="json")
    assert r.json() == {"deleted": 2}

    by_filter = _only("embeddings.delete_by_filter")
    _by_key(by_filter, tenant_a.key)
    assert by_filter.data == {"deleted": 4, "ids": None, "entities": None, "filter": flt}
    by_entities = _only("embeddings.delete")
    assert by_entities.data == {"deleted": 2, "ids": None, "entities": 2, "filter": None}


def test_agent_and_task_writes_carry_the_key_and_its_tenant(tenant_a):
    client = tenant_a.client
    r = client.post("/api/v1/agents/", {"name": "a1", "type": "worker"}, format="json")
    assert r.status_code == 201, r.json()
    agent_id, version = r.json()["id"], r.json()["version"]
    r = client.patch(f"/api/v1/agents/{agent_id}/", {"status": "maintenance", "version": version}, format="json")
    assert r.status_code == 200, r.json()
    r = client.post("/api/v1/tasks/", {"type": "t"}, format="json")
    assert r.status_code == 201, r.json()
    task_id = r.json()["id"]
    assert client.post(f"/api/v1/tasks/{task_id}/cancel/").status_code == 200
    assert client.post(f"/api/v1/tasks/{task_id}/retry/").status_code == 200
    assert client.delete(f"/api/v1/agents/{agent_id}/").status_code == 204

    for action in ("agent.create", "agent.update", "agent.delete", "task.create", "task.cancel", "task.retry"):
        _by_key(_only(action), tenant_a.key)
    assert _only("agent.update").data["changes"]["status"] == ["active", "maintenance"]
    assert _only("task.cancel").data == {"from": "pending", "to": "cancelled"}
    assert _only("task.create").target_id == task_id
    # django-auditlog's own entry names the key too (its actor column holds users only)
    log = LogEntry.objects.filter(object_pk=agent_id, action=LogEntry.Action.CREATE).get()
    assert log.actor is None and log.additional_data["actor"] == f"api-key:{tenant_a.key.prefix}"
    assert log.additional_data["tenant_id"] == tenant_a.tenant.pk


def test_key_writes_from_the_admin_name_the_operator_and_never_the_key(admin_client_):
    tenant = TenantFactory()
    response = admin_client_.post(reverse("admin:tenants_apikey_add"), {
        "name": "from-admin", "tenant": tenant.pk, "scopes": ["agents:read"], "expiry_date_0": "",
        "expiry_date_1": ""}, follow=True)
    raw = re.search(r"The API key for from-admin is: ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})",
                    response.content.decode()).group(1)
    key = ApiKey.objects.get(name="from-admin")
    changelist = reverse("admin:tenants_apikey_changelist")
    response = admin_client_.post(changelist, {"action": "rotate", "_selected_action": [key.pk]}, follow=True)
    new_raw = re.search(r"is: ([A-Za-z0-9]{8}\.[A-Za-z0-9]{32})", response.content.decode()).group(1)
    admin_client_.post(changelist, {"action": "revoke", "_selected_action": [key.pk]})

    created, rotated, revoked = _only("api_key.create"), _only("api_key.rotate"), _only("api_key.revoke")
    for entry in (created, rotated, revoked):
        assert (entry.actor_kind, entry.actor, entry.tenant_id) == ("user", "user:operator", tenant.pk)
        text = json.dumps(entry.data) + entry.target_repr + entry.target_id
        for secret in (raw, raw.split(".")[1], new_raw.split(".")[1], key.hashed_key):
            assert secret not in text
    assert created.target_id == key.prefix and created.data["changes"]["scopes"][1] == "['agents:read']"
    assert rotated.data["rotated_from"] == key.prefix and rotated.target_id == new_raw.split(".")[0]
    assert revoked.target_id == key.prefix and revoked.data["changes"]["revoked"] == ["False", "True"]


def test_tenant_writes_from_the_admin_name_the_operator(admin_client_):
    response = admin_client_.post(reverse("admin:tenants_tenant_add"), {
        "slug": "acme", "name": "Acme", "active": "on", "max_collections": "", "max_embeddings": "",
        "max_pending_tasks": "", "request_rate": ""})
    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="acme")
    response = admin_client_.post(reverse("admin:tenants_tenant_change", args=[tenant.pk]), {
        "name": "Acme", "active": "on", "max_collections": "3", "max_embeddings": "", "max_pending_tasks": "",
        "request_rate": ""})
    assert response.status_code == 302, response.content
    admin_client_.post(reverse("admin:tenants_tenant_changelist"),
                       {"action": "deactivate", "_selected_action": [tenant.pk]})

    for action in ("tenant.create", "tenant.quota_change", "tenant.deactivate"):
        entry = _only(action, tenant=tenant)
        assert (entry.actor_kind, entry.actor, entry.target_repr) == ("user", "user:operator", "acme")
    assert _only("tenant.quota_change").data["changes"]["max_collections"] == ["None", "3"]


def test_writes_outside_a_request_are_the_systems():
    tenant = TenantFactory()  # a service call with no request: a test, a shell, a command run with call_command
    assert _only("tenant.create", tenant=tenant).actor == "system"
    with acting_as("manage.py create_api_key"):
        key, _raw = api_key_create(tenant=tenant, name="cli", scopes=["agents:read"])
        tenant_update(tenant=tenant, max_embeddings=1000)
    entry = _only("api_key.create", tenant=tenant)
    assert (entry.actor_kind, entry.actor, entry.actor_key_id, entry.actor_user_id) == (
        "system", "system:manage.py create_api_key", None, None)
    assert _only("tenant.quota_change", tenant=tenant).actor == "system:manage.py create_api_key"
    assert current_actor().label == "system"  # the block ended


@pytest.mark.django_db(transaction=True)
def test_a_celery_task_is_the_actor_of_what_it_writes(celery_worker):
    from apps.tasks.tasks import reap_expired_leases_task

    tenant = TenantFactory()
    Task.objects.create(tenant=tenant, type="stuck", status="running", lease_owner="w1", attempts=1,
                        lease_expires_at=timezone.now() - timedelta(minutes=5), run_after=timezone.now())
    assert reap_expired_leases_task.delay().get(timeout=30) == {"requeued": 1, "failed": 0}
    entry = _only("task.reap_leases")
    assert entry.actor == f"system:celery:{reap_expired_leases_task.name}" and entry.tenant_id is None
    assert entry.data == {"requeued": 1, "failed": 0}


# ---- refused requests in the access log -------------------------------------------------------
def _flushed(**filters) -> list[AccessLog]:
    access_log_flush()
    return list(AccessLog.objects.filter(**filters).order_by("id"))


def test_refused_requests_are_logged_with_credential_tenant_and_error_code(tenant_a, tenant_b, make_key_client):
    _docs(tenant_a)
    bad = make_key_client(tenant=tenant_a.tenant, scopes=["memory:read"])[0]
    bad.credentials(HTTP_AUTHORIZATION="Api-Key Zz9Yy8Xx.not-the-secret")
    assert bad.get(COLLECTIONS).status_code == 401
    reader, reader_key = make_key_client(tenant=tenant_a.tenant, scopes=["memory:read"])
    assert reader.post(COLLECTIONS, {"name": "x", "dimension": 8}, format="json").status_code == 403
    assert tenant_b.client.get(f"{COLLECTIONS}docs/").status_code == 404  # tenant A's collection
    slow_tenant = TenantFactory(request_rate="1/day")
    slow, slow_key = make_key_client(tenant=slow_tenant, scopes=["memory:read"])
    assert [slow.get(COLLECTIONS).status_code for _ in range(2)] == [200, 429]

    lines = {line.status_code: line for line in _flushed(status_code__in=[401, 403, 404, 429])}
    assert (lines[401].key_prefix, lines[401].username, lines[401].tenant_id, lines[401].error_code) == (
        "Zz9Yy8Xx", "", None, "not_authenticated")
    assert "not-the-secret" not in json.dumps([str(v) for v in vars(lines[401]).values()])
    assert (lines[403].key_prefix, lines[403].username, lines[403].tenant_id, lines[403].error_code) == (
        reader_key.prefix, f"api-key:{reader_key.prefix}", tenant_a.tenant.pk, "permission_denied")
    assert (lines[404].key_prefix, lines[404].tenant_id, lines[404].error_code, lines[404].path) == (
        tenant_b.key.prefix, tenant_b.tenant.pk, "collection_not_found", f"{COLLECTIONS}docs/")
    assert (lines[429].key_prefix, lines[429].tenant_id, lines[429].error_code, lines[429].method) == (
        slow_key.prefix, slow_tenant.pk, "throttled", "GET")


def test_a_flood_of_401s_becomes_one_row_counting_them(client):
    client.defaults["HTTP_AUTHORIZATION"] = "Api-Key Flood123.wrong"
    for _ in range(50):
        assert client.get(COLLECTIONS).status_code == 401
    assert get_redis_connection("default").llen(BUFFER_KEY) == 50  # nothing written on the request path
    rows = _flushed(status_code=401)
    assert [(r.key_prefix, r.hits) for r in rows] == [("Flood123", 50)]


# ---- who reads the audit ----------------------------------------------------------------------
def test_each_tenant_reads_only_its_own_audit(tenant_a, tenant_b, make_key_client, operator_client, api_client):
    _docs(tenant_a, "a-docs")
    _docs(tenant_b, "b-docs")
    tenant_b.client.get(f"{COLLECTIONS}a-docs/")  # a refused request of B's, in the access log
    access_log_flush()
    admin_a = make_key_client(tenant=tenant_a.tenant, scopes=["tenant:admin"])[0]
    admin_b = make_key_client(tenant=tenant_b.tenant, scopes=["tenant:admin"])[0]

    rows = admin_a.get(ENTRIES).json()["results"]
    assert {r["tenant"] for r in rows} == {"tenant-a"} and "collection.create" in {r["action"] for r in rows}
    assert {r["actor_key"] for r in rows if r["action"] == "collection.create"} == {tenant_a.key.prefix}
    b_entry = _only("collection.create", tenant=tenant_b.tenant)
    assert admin_a.get(f"{ENTRIES}{b_entry.pk}/").status_code == 404
    assert admin_b.get(f"{ENTRIES}{b_entry.pk}/").status_code == 200
    assert admin_a.get(ENTRIES, {"tenant": "tenant-b"}).json()["results"] == []
    a_paths = {r["path"] for r in admin_a.get(ACCESS).json()["results"]}
    assert f"{COLLECTIONS}a-docs/" not in a_paths  # B's refused request is B's
    b_lines = admin_b.get(ACCESS, {"status_code": 404}).json()["results"]
    assert [(r["path"], r["tenant"]) for r in b_lines] == [(f"{COLLECTIONS}a-docs/", "tenant-b")]

    # data scopes do not read audit; nor do the deprecated tokens of non-staff users
    r = tenant_a.client.get(ENTRIES)
    assert r.status_code == 403 and "tenant:admin" in r.json()["error"]["message"]
    assert api_client.get(ENTRIES).status_code == 403 and api_client.get(ACCESS).status_code == 403

    # operators read every tenant's and filter by tenant and actor
    every = {r["tenant"] for r in operator_client.get(ENTRIES, {"action": "collection.create"}).json()["results"]}
    assert {"tenant-a", "tenant-b"} <= every
    by_actor = operator_client.get(ENTRIES, {"actor": f"api-key:{tenant_b.key.prefix}"}).json()["results"]
    assert [r["action"] for r in by_actor] == ["collection.create"]
    assert {r["tenant"] for r in operator_client.get(ENTRIES, {"tenant": "tenant-a"}).json()["results"]} == {
        "tenant-a"}
    assert operator_client.get(ACCESS, {"tenant": "tenant-b", "status_code": 404}).json()["count"] == 1


def test_admin_lists_filter_by_tenant_and_actor(admin_client_, tenant_a, tenant_b):
    _docs(tenant_a)
    _docs(tenant_b)
    url = reverse("admin:audit_auditentry_changelist")

    def rows(**params) -> str:  # the result table only (the filter sidebar lists every actor)
        body = admin_client_.get(url, params).content.decode()
        return body.split('id="result_list"', 1)[1].split("</table>", 1)[0]

    listed = rows(tenant__id__exact=tenant_a.tenant.pk)
    assert f"api-key:{tenant_a.key.prefix}" in listed and f"api-key:{tenant_b.key.prefix}" not in listed
    listed = rows(actor=f"api-key:{tenant_b.key.prefix}")
    assert f"api-key:{tenant_b.key.prefix}" in listed and f"api-key:{tenant_a.key.prefix}" not in listed
    assert admin_client_.get(reverse("admin:audit_accesslog_changelist"),
                             {"tenant__id__exact": tenant_a.tenant.pk}).status_code == 200


# ---- the migrations run backwards -------------------------------------------------------------
def _columns(table: str) -> set[str]:
    with connection.cursor() as cur:
        return {c.name for c in connection.introspection.get_table_description(cur, table)}


def test_the_migrations_are_reversible():
    """Back to 0002 and forward again, inside the test's transaction (PostgreSQL's DDL is transactional)."""
    assert import_module("apps.audit.migrations.0004_audit_entry").Migration.operations[0].reversible
    executor = MigrationExecutor(connection)
    with as_owner():  # migrations run as the tables' owner, as `migrate` does
        executor.migrate([("audit", "0002_flush_schedule")])
        assert "audit_auditentry" not in connection.introspection.table_names()
        assert not {"tenant_id", "key_prefix", "error_code", "hits"} & _columns("audit_accesslog")
        executor.loader.build_graph()
        executor.migrate([("audit", "0004_audit_entry")])
    assert "audit_auditentry" in connection.introspection.table_names()
    assert {"tenant_id", "key_prefix", "error_code", "hits"} <= _columns("audit_accesslog")
