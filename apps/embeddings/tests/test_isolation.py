"""Two tenants × every collections endpoint: own collections work, the other's are 404 and unchanged,
a missing scope is 403 naming it, `?tenant=` and the tenant header never reach another tenant.

Each tenant calls with its own API key (the `tenant_a` / `tenant_b` fixtures of the root conftest).
"Unchanged" is every row as PostgreSQL prints it: the tenant's collections (`table_snapshot`) and
their embeddings (which have no tenant column: they are joined through their collection).
"""

import pytest
from django.db import connection

from apps.embeddings.models import Collection

pytestmark = pytest.mark.django_db

BASE = "/api/v1/collections/"
ITEMS = [{"entity_type": "doc", "entity_id": str(i), "vector": [1.0, float(i), 0.5, 0.25],
          "content": f"postgres secret {i}", "metadata": {"color": "red" if i % 2 else "blue"}} for i in range(4)]


def _create(caller, name: str) -> None:
    r = caller.client.post(BASE, {"name": name, "dimension": 4, "index": "none"}, format="json")
    assert r.status_code == 201, r.content
    r = caller.client.post(f"{BASE}{name}/embeddings/", {"items": ITEMS}, format="json")
    assert r.status_code == 201, r.content


@pytest.fixture
def a_docs(tenant_a) -> str:
    """Tenant A's collection `a-docs` with four embeddings (content, metadata)."""
    _create(tenant_a, "a-docs")
    return "a-docs"


@pytest.fixture
def snapshot(table_snapshot):
    """A tenant's collections and embeddings, each row as PostgreSQL's text of it."""
    def take(tenant_id: int) -> tuple[list[str], list[str]]:
        with connection.cursor() as cur:
            cur.execute("SELECT e::text FROM embeddings_embedding e JOIN embeddings_collection c "
                        "ON c.id = e.collection_id WHERE c.tenant_id = %s ORDER BY e.id", [tenant_id])
            rows = [row[0] for row in cur.fetchall()]
        return table_snapshot("embeddings_collection", tenant_id), rows
    return take


# (method, path under the collection, body): every route that names a collection
ROUTES = [
    ("get", "", None),
    ("patch", "", {"m": 8}),
    ("delete", "", None),
    ("get", "embeddings/", None),
    ("post", "embeddings/", {"items": ITEMS[:1]}),
    ("post", "embeddings/delete/", {"filter": {"color": "red"}}),
    ("post", "embeddings/delete/", {"entities": [{"entity_type": "doc", "entity_id": "1"}]}),
    ("post", "search/", {"vector": [1, 0, 0, 0], "k": 2, "include": ["content", "vector"]}),
    ("post", "search/", {"vector": [1, 0, 0, 0], "k": 2, "query_text": "postgres"}),
    ("post", "search/batch/", {"queries": [{"vector": [1, 0, 0, 0], "k": 2}]}),
    ("get", "stats/", None),
]
IDS = [f"{m} {p or '.'} {sorted(b or {})}" for m, p, b in ROUTES]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=IDS)
def test_another_tenants_collection_is_404_and_left_unchanged(tenant_a, tenant_b, a_docs, snapshot, method, path,
                                                              body):
    tenant_a.client.get(f"{BASE}{a_docs}/")  # now in the by-name cache: B must not get it from there
    before = snapshot(tenant_a.tenant.pk)

    r = getattr(tenant_b.client, method)(f"{BASE}{a_docs}/{path}", body, format="json")

    assert r.status_code == 404, r.content
    assert r.json()["error"]["code"] == "collection_not_found"
    assert r.json()["error"]["message"] == f"collection '{a_docs}' not found"
    assert snapshot(tenant_a.tenant.pk) == before


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "", None, 200), ("patch", "", {"m": 8}, 200), ("delete", "", None, 204),
    ("get", "embeddings/", None, 200), ("post", "embeddings/", {"items": ITEMS[:1]}, 200),
    ("post", "embeddings/delete/", {"filter": {"color": "red"}}, 200),
    ("post", "search/", {"vector": [1, 0, 0, 0], "k": 2}, 200),
    ("post", "search/", {"vector": [1, 0, 0, 0], "k": 2, "query_text": "postgres"}, 200),
    ("post", "search/batch/", {"queries": [{"vector": [1, 0, 0, 0], "k": 2}]}, 200),
    ("get", "stats/", None, 200),
])
def test_own_collection_works_for_each_route(tenant_a, a_docs, method, path, body, status):
    r = getattr(tenant_a.client, method)(f"{BASE}{a_docs}/{path}", body, format="json")
    assert r.status_code == status, r.content


def test_lists_and_names_are_per_tenant(tenant_a, tenant_b, a_docs):
    _create(tenant_b, "b-docs")
    assert [c["name"] for c in tenant_b.client.get(BASE).json()["results"]] == ["b-docs"]
    assert [(c["name"], c["tenant"]) for c in tenant_a.client.get(BASE).json()["results"]] == [("a-docs", "tenant-a")]
    # the same name in both tenants: two collections, each tenant reads (and searches) its own
    _create(tenant_b, a_docs)
    r = tenant_b.client.post(f"{BASE}{a_docs}/embeddings/delete/", {"filter": {"color": "red"}}, format="json")
    assert r.json() == {"deleted": 2}
    a_col, b_col = (tenant_a.client.get(f"{BASE}{a_docs}/").json(), tenant_b.client.get(f"{BASE}{a_docs}/").json())
    assert a_col["id"] != b_col["id"] and (a_col["tenant"], b_col["tenant"]) == ("tenant-a", "tenant-b")
    assert tenant_a.client.get(f"{BASE}{a_docs}/stats/").json()["rows"] == 4
    assert tenant_b.client.get(f"{BASE}{a_docs}/stats/").json()["rows"] == 2


def test_the_tenant_parameter_and_header_never_reach_another_tenant(tenant_a, tenant_b, a_docs, snapshot):
    before = snapshot(tenant_a.tenant.pk)
    r = tenant_b.client.get(f"{BASE}{a_docs}/?tenant=tenant-a")
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == "tenant_parameter"
    assert "acts for 'tenant-b'" in r.json()["error"]["message"]
    r = tenant_b.client.get(BASE, {"tenant": "tenant-a"})
    assert r.status_code == 400
    r = tenant_b.client.post(BASE, {"name": "x", "dimension": 4, "tenant": "tenant-a"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"] == {"field": "tenant"}
    r = tenant_b.client.get(f"{BASE}{a_docs}/", HTTP_X_AGENCY_TENANT="tenant-a")
    assert r.status_code == 403
    assert snapshot(tenant_a.tenant.pk) == before
    assert not Collection.objects.filter(tenant=tenant_b.tenant).exists()
    # repeating one's own tenant keeps working (old clients sent ?tenant=)
    assert tenant_a.client.get(f"{BASE}{a_docs}/?tenant=tenant-a").status_code == 200


@pytest.mark.parametrize(("method", "path", "body", "needed"), [
    ("get", "", None, "memory:read"),
    ("get", "{name}/", None, "memory:read"),
    ("get", "{name}/embeddings/", None, "memory:read"),
    ("post", "{name}/search/", {"vector": [1, 0, 0, 0]}, "memory:read"),
    ("post", "{name}/search/batch/", {"queries": [{"vector": [1, 0, 0, 0]}]}, "memory:read"),
    ("get", "{name}/stats/", None, "memory:read"),
    ("post", "", {"name": "new", "dimension": 4}, "memory:write"),
    ("patch", "{name}/", {"m": 8}, "memory:write"),
    ("delete", "{name}/", None, "memory:write"),
    ("post", "{name}/embeddings/", {"items": ITEMS[:1]}, "memory:write"),
    ("post", "{name}/embeddings/delete/", {"filter": {"color": "red"}}, "memory:write"),
])
def test_a_missing_scope_is_403_naming_it(make_tenant_caller, tenant_a, a_docs, snapshot, method, path, body,
                                          needed):
    others = {"memory:read", "memory:write", "agents:read", "agents:write", "tasks:read"} - {needed}
    caller = make_tenant_caller(tenant=tenant_a.tenant, scopes=sorted(others))
    before = snapshot(tenant_a.tenant.pk)
    r = getattr(caller.client, method)(BASE + path.format(name=a_docs), body, format="json")
    assert r.status_code == 403, r.content
    assert f"Missing scope {needed!r}" in r.json()["error"]["message"]
    assert snapshot(tenant_a.tenant.pk) == before


def test_operators_name_the_tenant(operator_client, tenant_a, tenant_b, a_docs):
    r = operator_client.post(BASE, {"name": "ops", "dimension": 4, "index": "none"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "tenant_required"
    r = operator_client.post(BASE, {"name": "ops", "dimension": 4, "index": "none"}, format="json",
                             HTTP_X_AGENCY_TENANT="tenant-b")
    assert r.status_code == 201 and r.json()["tenant"] == "tenant-b"
    assert operator_client.get(f"{BASE}{a_docs}/", HTTP_X_AGENCY_TENANT="tenant-b").status_code == 404
    assert operator_client.get(f"{BASE}{a_docs}/", HTTP_X_AGENCY_TENANT="tenant-a").status_code == 200
    assert operator_client.get(f"{BASE}{a_docs}/").status_code == 200  # unique across tenants: found
    _create(tenant_b, a_docs)
    r = operator_client.get(f"{BASE}{a_docs}/")
    assert r.status_code == 400 and r.json()["error"]["code"] == "tenant_required"
    assert operator_client.get(f"{BASE}{a_docs}/?tenant=tenant-a").status_code == 400  # the header, not ?tenant=
    assert {c["tenant"] for c in operator_client.get(BASE).json()["results"]} == {"tenant-a", "tenant-b"}


def test_rebuild_stays_operator_only(tenant_a, tenant_b, a_docs, operator_client,
                                     django_capture_on_commit_callbacks):
    assert tenant_a.client.post(f"{BASE}{a_docs}/rebuild-index/").status_code == 403
    r = operator_client.post(f"{BASE}{a_docs}/rebuild-index/", HTTP_X_AGENCY_TENANT="tenant-b")
    assert r.status_code == 404  # an operator who names a tenant is held to it
    with django_capture_on_commit_callbacks(execute=True):
        r = operator_client.post(f"{BASE}{a_docs}/rebuild-index/", HTTP_X_AGENCY_TENANT="tenant-a")
    assert r.status_code == 202


def test_legacy_token_users_keep_the_default_tenant(api_client, tenant_a, a_docs):
    r = api_client.post(BASE, {"name": "mine", "dimension": 4, "index": "none"}, format="json")
    assert r.status_code == 201 and r.json()["tenant"] == "default"
    assert [c["name"] for c in api_client.get(BASE).json()["results"]] == ["mine"]
    assert api_client.get(f"{BASE}{a_docs}/").status_code == 404
    assert api_client.get(f"{BASE}mine/?tenant=default").status_code == 200


def test_collections_are_throttled_per_tenant(tenant_a, a_docs):
    """TenantRateThrottle: the tenant's rate, read with its key on every request; 429 with Retry-After."""
    type(tenant_a.tenant).objects.filter(pk=tenant_a.tenant.pk).update(request_rate="2/hour")  # a new window
    codes = [tenant_a.client.get(f"{BASE}{a_docs}/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = tenant_a.client.post(f"{BASE}{a_docs}/search/", {"vector": [1, 0, 0, 0]}, format="json")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "throttled"
