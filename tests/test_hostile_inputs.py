"""Hostile inputs (issue #14): each is a 4xx in the one error shape, naming the field, and writes nothing.

Every request of the matrix below answered 500 before (an HTML page): the JSON renderer's
TypeError on list-indexed errors, PostgreSQL's DataError on a UTC offset past ±15:59, on NUL in
text or jsonb and on a NaN interval, simdjson's NO_SUCH_FIELD on a NUL key, a RecursionError on
JSON nested a thousand deep, pgvector refusing an index after the collection had committed. A few
already-correct neighbours ride along so the messages stay as they are.

Each case goes through the whole stack (APIClient with a tenant's API key, or an operator's token
for the operator-only endpoints; the real PostgreSQL), and asserts the status, the error body's
shape, the message naming the field, and the tenant's rows byte-for-byte unchanged
(`table_snapshot`, plus the tenant's embeddings, which have no tenant column of their own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson
import pytest
from django.db import connection
from rest_framework import exceptions

from apps.common.errors import ValidationFailed
from apps.common.validation import json_check
from apps.embeddings.models import Collection, IndexStatus
from apps.embeddings.services import collections as collection_services
from apps.embeddings.tests.factories import CollectionFactory
from apps.platform.http.errors import exception_handler

pytestmark = pytest.mark.django_db

NUL = "\\u0000"  # a NUL character, as JSON text spells it
TENANT_TABLES = ["agents_agent", "tasks_task", "embeddings_collection"]


def deep(levels: int, key: str, leaf: str = "1") -> str:
    """`{"key": {"key": ... leaf}}` as JSON text, `levels` objects deep (json.dumps would recurse)."""
    return f'{{"{key}":' * levels + leaf + "}" * levels


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: str | None  # JSON text, sent as is
    message: str  # the error message starts with this
    status: int = 400
    operator: bool = False


SEARCH = "/api/v1/collections/c/search/"
V = '"vector": [1, 0, 0]'
CASES = [
    # --- a validation error inside a list: the error dict had integer keys ---------------------------
    Case("claim-types-blank", "post", "/api/v1/tasks/claim/", '{"worker_id": "w", "types": [""]}',
         "types[0]: This field may not be blank."),
    Case("claim-types-second-blank", "post", "/api/v1/tasks/claim/", '{"worker_id": "w", "types": ["a", ""]}',
         "types[1]: This field may not be blank."),
    Case("invalidate-keys-blank", "post", "/api/v1/cache/invalidate/", '{"keys": [""]}',
         "keys[0]: This field may not be blank.", operator=True),
    Case("invalidate-tags-blank", "post", "/api/v1/cache/invalidate/", '{"tags": ["t", ""]}',
         "tags[1]: This field may not be blank.", operator=True),
    # --- datetimes PostgreSQL cannot take -------------------------------------------------------------
    Case("tasks-created-before-offset", "get", "/api/v1/tasks/?created_before=2024-01-01T00:00:00%2B18:54", None,
         "created_before: the UTC offset +18:54 is outside PostgreSQL's range (±15:59)"),
    Case("tasks-created-after-offset", "get", "/api/v1/tasks/?created_after=2024-01-01T00:00:00-16:00", None,
         "created_after: the UTC offset -16:00 is outside"),
    Case("tasks-created-before-impossible", "get", "/api/v1/tasks/?created_before=2024-13-45", None,
         "created_before: Enter a valid date/time."),
    Case("access-log-since-offset", "get", "/api/v1/audit/access-log/?since=2024-01-01T00:00:00%2B18:54", None,
         "since: the UTC offset +18:54 is outside", operator=True),
    Case("access-log-until-offset", "get", "/api/v1/audit/access-log/?until=2024-01-01T00:00:00%2B23:59", None,
         "until: the UTC offset +23:59 is outside", operator=True),
    Case("changes-since-offset", "get", "/api/v1/audit/changes/?since=2024-01-01T00:00:00%2B18:54", None,
         "since: the UTC offset +18:54 is outside", operator=True),
    Case("filter-created-at-offset", "post", SEARCH,
         f'{{{V}, "filter": {{"created_at": {{"$gt": "2024-01-01T00:00:00+18:54"}}}}}}',
         "filter.created_at.$gt: the UTC offset +18:54 is outside"),
    Case("filter-created-at-impossible-date", "post", SEARCH, f'{{{V}, "filter": {{"created_at": "2024-13-45"}}}}',
         "filter.created_at.$eq: expected an ISO 8601 date-time"),
    Case("filter-created-at-impossible-datetime", "post", SEARCH,
         f'{{{V}, "filter": {{"created_at": {{"$lt": "2024-13-45T00:00:00"}}}}}}',
         "filter.created_at.$lt: expected an ISO 8601 date-time (month must be in 1..12)"),
    Case("filter-created-at-year-0", "post", SEARCH,
         f'{{{V}, "filter": {{"created_at": {{"$in": ["2024-01-01T00:00:00", "0000-01-01T00:00:00"]}}}}}}',
         "filter.created_at.$in[1]: expected an ISO 8601 date-time"),
    # --- NUL, which PostgreSQL's text and jsonb cannot hold ---------------------------------------------
    Case("agent-capabilities-nul-key", "post", "/api/v1/agents/",
         f'{{"name": "a", "type": "t", "capabilities": {{"k{NUL}": 1}}}}',
         "capabilities.k\\u0000: NUL characters (\\u0000) are not allowed in keys"),
    Case("agent-capabilities-nul-value", "post", "/api/v1/agents/",
         f'{{"name": "a", "type": "t", "capabilities": {{"k": "v{NUL}"}}}}',
         "capabilities.k: NUL characters (\\u0000) are not allowed"),
    Case("agent-capabilities-nul-in-list", "post", "/api/v1/agents/",
         f'{{"name": "a", "type": "t", "capabilities": {{"tools": ["ok", {{"x": "{NUL}"}}]}}}}',
         "capabilities.tools[1].x: NUL characters"),
    Case("agent-patch-capabilities-nul", "patch", "/api/v1/agents/{agent}/",
         f'{{"version": 1, "capabilities": {{"k": "{NUL}"}}}}', "capabilities.k: NUL characters"),
    Case("agent-name-nul", "post", "/api/v1/agents/", f'{{"name": "a{NUL}", "type": "t"}}',
         "name: Null characters are not allowed."),
    Case("task-data-nul-value", "post", "/api/v1/tasks/", f'{{"type": "t", "data": {{"k": "v{NUL}"}}}}',
         "data.k: NUL characters"),
    Case("task-data-nul-key", "post", "/api/v1/tasks/", f'{{"type": "t", "data": {{"a": {{"{NUL}": 1}}}}}}',
         "data.a.\\u0000: NUL characters (\\u0000) are not allowed in keys"),
    Case("task-result-nul", "post", "/api/v1/tasks/{running}/complete/",
         f'{{"worker_id": "w", "result": {{"out": "{NUL}"}}}}', "result.out: NUL characters"),
    Case("claim-types-nul", "post", "/api/v1/tasks/claim/", f'{{"worker_id": "w", "types": ["{NUL}"]}}',
         "types[0]: Null characters are not allowed."),
    Case("filter-value-nul", "post", SEARCH, f'{{{V}, "filter": {{"color": "r{NUL}"}}}}',
         "filter.color: NUL characters"),
    Case("filter-like-nul", "post", SEARCH, f'{{{V}, "filter": {{"color": {{"$like": "r{NUL}%"}}}}}}',
         "filter.color.$like: NUL characters"),
    Case("filter-in-nul", "post", SEARCH, f'{{{V}, "filter": {{"tag": {{"$in": ["a", "{NUL}"]}}}}}}',
         "filter.tag.$in[1]: NUL characters"),
    Case("filter-entity-id-nul", "post", SEARCH, f'{{{V}, "filter": {{"entity_id": "x{NUL}"}}}}',
         "filter.entity_id: NUL characters"),
    Case("filter-nested-nul", "post", SEARCH,
         f'{{{V}, "filter": {{"$or": [{{"a": 1}}, {{"$not": {{"b": "{NUL}"}}}}]}}}}',
         "filter.$or[1].$not.b: NUL characters"),
    Case("delete-filter-nul", "post", "/api/v1/collections/c/embeddings/delete/",
         f'{{"filter": {{"color": "{NUL}"}}}}', "filter.color: NUL characters"),
    Case("query-text-nul", "post", SEARCH, f'{{"query_text": "cats{NUL}"}}', "query_text: NUL characters"),
    Case("batch-query-text-nul", "post", "/api/v1/collections/c/search/batch/",
         f'{{"queries": [{{{V}}}, {{"query_text": "{NUL}"}}]}}', "queries[1].query_text: NUL characters"),
    Case("search-key-nul", "post", SEARCH, f'{{{V}, "k{NUL}": 1}}', "k\x00: unknown field"),
    Case("ingest-item-key-nul", "post", "/api/v1/collections/c/embeddings/",
         f'{{"items": [{{"entity_type": "t", "entity_id": "x", {V}, "x{NUL}": 1}}]}}',
         "items[0].x\x00: unknown field"),
    Case("ingest-metadata-nul-key", "post", "/api/v1/collections/c/embeddings/",
         f'{{"items": [{{"entity_type": "t", "entity_id": "x", {V}, "metadata": {{"k{NUL}": 1}}}}]}}',
         "items[0].metadata.k\\u0000: NUL characters (\\u0000) are not allowed in keys"),
    Case("ingest-entity-id-nul", "post", "/api/v1/collections/c/embeddings/",
         f'{{"items": [{{"entity_type": "t", "entity_id": "x{NUL}", {V}}}]}}',
         "items[0].entity_id: NUL characters are not allowed"),
    Case("embeddings-entity-type-param-nul", "get", "/api/v1/collections/c/embeddings/?entity_type=a%00", None,
         "entity_type: NUL characters"),
    Case("collections-tenant-param-nul", "get", "/api/v1/collections/?tenant=%00", None,
         "tenant: deprecated; the tenant comes from the credential"),
    Case("agents-type-param-nul", "get", "/api/v1/agents/?type=%00", None, "type: Null characters are not allowed."),
    Case("agents-search-param-nul", "get", "/api/v1/agents/?search=%00", None, "Null characters are not allowed."),
    # --- nesting a thousand deep: RecursionError ------------------------------------------------------
    Case("filter-not-1000-deep", "post", SEARCH, f'{{{V}, "filter": {deep(1000, "$not", "{}")}}}',
         "filter" + ".$not" * 32 + ": nested deeper than 32 levels"),
    Case("delete-filter-not-1000-deep", "post", "/api/v1/collections/c/embeddings/delete/",
         f'{{"filter": {deep(1000, "$not", "{}")}}}', "filter" + ".$not" * 32 + ": nested deeper than 32 levels"),
    Case("capabilities-1000-deep", "post", "/api/v1/agents/",
         f'{{"name": "a", "type": "t", "capabilities": {deep(1000, "a")}}}',
         "capabilities" + ".a" * 64 + ": nested deeper than 64 levels"),
    Case("capabilities-65-deep", "post", "/api/v1/agents/",
         f'{{"name": "a", "type": "t", "capabilities": {deep(65, "a")}}}',
         "capabilities" + ".a" * 64 + ": nested deeper than 64 levels"),
    Case("task-data-1000-deep-lists", "post", "/api/v1/tasks/",
         f'{{"type": "t", "data": {{"x": {"[" * 1000 + "]" * 1000}}}}}',
         "data.x" + "[0]" * 63 + ": nested deeper than 64 levels"),
    Case("ingest-metadata-1000-deep", "post", "/api/v1/collections/c/embeddings/",
         f'{{"items": [{{"entity_type": "t", "entity_id": "x", {V}, "metadata": {deep(1000, "m")}}}]}}',
         "items[0].metadata" + ".m" * 64 + ": nested deeper than 64 levels"),
    Case("ingest-metadata-300-deep", "post", "/api/v1/collections/c/embeddings/",
         f'{{"items": [{{"entity_type": "t", "entity_id": "x", {V}, "metadata": {deep(300, "m")}}}]}}',
         "items[0].metadata" + ".m" * 64 + ": nested deeper than 64 levels"),
    Case("session-data-1000-deep", "put", "/api/v1/agents/{agent}/session/", f'{{"data": {deep(1000, "s")}}}',
         "data" + ".s" * 64 + ": nested deeper than 64 levels"),
    Case("search-vector-1000-deep", "post", SEARCH, '{"vector": ' + "[" * 1000 + "]" * 1000 + "}",
         "vector: expected a flat list of numbers"),
    Case("search-vector-ragged", "post", SEARCH, '{"vector": [[1], [2, 3], 4]}', "vector: expected a flat list"),
    Case("ingest-vector-ragged", "post", "/api/v1/collections/c/embeddings/",
         '{"items": [{"entity_type": "t", "entity_id": "x", "vector": [1, [2], 3]}]}',
         "items[0].vector: expected a flat list of numbers"),
    # --- NaN and infinity: an interval out of range --------------------------------------------------
    Case("claim-lease-nan", "post", "/api/v1/tasks/claim/", '{"worker_id": "w", "lease_seconds": "NaN"}',
         "lease_seconds: must be a finite number"),
    Case("claim-lease-infinity", "post", "/api/v1/tasks/claim/", '{"worker_id": "w", "lease_seconds": "Infinity"}',
         "lease_seconds: must be a finite number"),
    Case("heartbeat-lease-nan", "post", "/api/v1/tasks/{running}/heartbeat/",
         '{"worker_id": "w", "lease_seconds": "NaN"}', "lease_seconds: must be a finite number"),
    # --- index parameters pgvector refuses: the collection committed, then the build failed -------------
    Case("create-ivfflat-dimension-1", "post", "/api/v1/collections/",
         '{"name": "d1", "dimension": 1, "index": "ivfflat"}',
         "dimension: ivfflat with cosine needs at least 2 dimensions"),
    Case("create-ivfflat-ip-dimension-1", "post", "/api/v1/collections/",
         '{"name": "d1", "dimension": 1, "index": "ivfflat", "metric": "inner_product"}',
         "dimension: ivfflat with inner_product needs at least 2 dimensions"),
    Case("create-ef-construction-below-2m", "post", "/api/v1/collections/",
         '{"name": "d2", "dimension": 3, "m": 40, "ef_construction": 50}',
         "ef_construction: hnsw needs ef_construction >= 2 * m (pgvector); got 50 with m 40"),
    Case("patch-to-ivfflat-dimension-1", "patch", "/api/v1/collections/one/", '{"index": "ivfflat"}',
         "dimension: ivfflat with cosine needs at least 2 dimensions"),
    Case("patch-m-above-half-ef", "patch", "/api/v1/collections/c/", '{"m": 60}',
         "ef_construction: hnsw needs ef_construction >= 2 * m (pgvector); got 100 with m 60"),
    Case("patch-binary-index-on-ivfflat-dimension-1", "patch", "/api/v1/collections/legacy/",
         '{"binary_index": true}', "dimension: ivfflat with cosine needs at least 2 dimensions"),
]


@pytest.fixture
def world(tenant_a, django_capture_on_commit_callbacks):
    """Tenant A's rows for the cases to aim at: collections (with their indexes), an agent, a running task."""
    client = tenant_a.client
    with django_capture_on_commit_callbacks(execute=True):
        for body in ({"name": "c", "dimension": 3}, {"name": "one", "dimension": 1}):
            r = client.post("/api/v1/collections/", body, format="json")
            assert r.status_code == 201, r.content
        r = client.post("/api/v1/collections/c/embeddings/", {"items": [
            {"entity_type": "t", "entity_id": "e1", "vector": [1, 0, 0], "metadata": {"color": "red"}},
            {"entity_type": "t", "entity_id": "e2", "vector": [0, 1, 0], "content": "cats"}]}, format="json")
        assert r.status_code == 201, r.content
    # Made before these checks existed: a dimension-1 ivfflat cosine collection (its index never built).
    CollectionFactory(tenant_id=tenant_a.tenant.pk, name="legacy", dimension=1, index_type="ivfflat",
                      index_status=IndexStatus.FAILED)
    r = client.post("/api/v1/agents/", {"name": "agent", "type": "t", "capabilities": {"k": 1}}, format="json")
    assert r.status_code == 201, r.content
    agent = r.json()["id"]
    r = client.post("/api/v1/tasks/", {"type": "job", "data": {"n": 1}}, format="json")
    assert r.status_code == 201, r.content
    r = client.post("/api/v1/tasks/claim/", {"worker_id": "w", "types": ["job"]}, format="json")
    assert r.status_code == 200 and len(r.json()["tasks"]) == 1, r.content
    return {"agent": agent, "running": r.json()["tasks"][0]["id"]}


def _embeddings(tenant_id: int) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT e::text FROM embeddings_embedding e JOIN embeddings_collection c ON c.id = e.collection_id "
                    "WHERE c.tenant_id = %s ORDER BY e.id", [tenant_id])
        return [row[0] for row in cur.fetchall()]


def _state(table_snapshot, tenant_id: int) -> dict[str, list[str]]:
    return {**{t: table_snapshot(t, tenant_id) for t in TENANT_TABLES}, "embeddings": _embeddings(tenant_id)}


def _send(client, case: Case, ids: dict[str, str]):
    path = case.path.format(**ids)
    if case.body is None:
        return getattr(client, case.method)(path)
    orjson.loads(case.body)  # the case itself is valid JSON (a parse error would prove nothing)
    return client.generic(case.method.upper(), path, case.body.encode(), content_type="application/json")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_a_4xx_naming_the_field_and_writes_nothing(case, world, tenant_a, operator_client,
                                                                     table_snapshot,
                                                                     django_capture_on_commit_callbacks):
    tenant_id = tenant_a.tenant.pk
    before = _state(table_snapshot, tenant_id)
    client = operator_client if case.operator else tenant_a.client

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = _send(client, case, world)

    assert r.status_code == case.status, r.content
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["error"] and sorted(body["error"]) == ["code", "details", "message"], body
    assert body["error"]["message"].startswith(case.message), body["error"]["message"]
    assert callbacks == [], "a refused request scheduled work after commit"
    assert _state(table_snapshot, tenant_id) == before


def test_list_errors_are_flat_details_keyed_by_the_item(tenant_a):
    """Every item's error is reported, keyed `types[1]`, not as integer keys the renderer cannot write."""
    r = tenant_a.client.post("/api/v1/tasks/claim/", {"worker_id": "", "types": ["a", "", "x" * 101]}, format="json")
    assert r.status_code == 400, r.content
    details = r.json()["error"]["details"]
    assert details == {
        "worker_id": ["This field may not be blank."],
        "types[1]": ["This field may not be blank."],
        "types[2]": ["Ensure this field has no more than 100 characters."],
    }


def test_nested_and_indexed_errors_become_one_level_the_renderer_can_write():
    """The handler's flattening on its own: a many=True serializer's list, a ListField's int keys, a dict field."""
    exc = exceptions.ValidationError({"queries": [{}, {"k": ["bad"]}], "types": {0: ["blank"]},
                                      "metadata": {"a": {"b": ["deep"]}}})
    response = exception_handler(exc, {})
    assert response.data == {"error": {"code": "invalid", "message": "queries[1].k: bad", "details": {
        "queries[1].k": ["bad"], "types[0]": ["blank"], "metadata.a.b": ["deep"]}}}
    assert orjson.loads(orjson.dumps(response.data)) == response.data


def test_the_json_check_is_iterative():
    """A million levels are refused at the bound, without recursion (a recursive walk would raise)."""
    doc: dict = {}
    for _ in range(1_000_000):
        doc = {"a": doc}
    with pytest.raises(ValidationFailed) as caught:
        json_check("data", doc)
    assert caught.value.message == "data" + ".a" * 64 + ": nested deeper than 64 levels"
    json_check("data", json.loads(deep(64, "a")))  # at the bound: fine


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    # just inside each bound: accepted
    ("post", "/api/v1/agents/", {"name": "deep", "type": "t", "capabilities": json.loads(deep(64, "a"))}, 201),
    ("get", "/api/v1/tasks/?created_before=2024-01-01T00:00:00%2B15:59", None, 200),
    ("post", SEARCH, {"vector": [1, 0, 0], "filter": {"created_at": {"$lt": "2024-01-01T00:00:00-15:59"}}}, 200),
    ("post", SEARCH, {"vector": [1, 0, 0], "filter": {"color": "a\\u0000"}}, 200),  # a backslash, not a NUL
    ("post", "/api/v1/tasks/claim/", {"worker_id": "w", "lease_seconds": 86400}, 200),
    ("post", "/api/v1/collections/", {"name": "l2-one", "dimension": 1, "index": "ivfflat", "metric": "l2"}, 201),
    ("post", "/api/v1/collections/", {"name": "tight", "dimension": 3, "m": 50, "ef_construction": 100}, 201),
    ("patch", "/api/v1/collections/one/", {"binary_index": True}, 200),
])
def test_the_bounds_are_pgvectors_and_postgresqls_not_tighter(world, tenant_a, django_capture_on_commit_callbacks,
                                                              method, path, body, status):
    with django_capture_on_commit_callbacks(execute=True):
        r = getattr(tenant_a.client, method)(path, body, format="json") if body else tenant_a.client.get(path)
    assert r.status_code == status, r.content
    if path.startswith("/api/v1/collections/") and method != "get" and "search" not in path:
        name = r.json()["name"]
        assert Collection.objects.get(tenant_id=tenant_a.tenant.pk, name=name).index_status == IndexStatus.READY


def _no_upfront_check(monkeypatch) -> None:
    """Stand for a rule of pgvector's that the up-front check does not know: without the check,
    ef_construction < 2 * m reaches PostgreSQL, which really refuses the build after commit."""
    monkeypatch.setattr(collection_services, "collection_index_check", lambda collection: None)


def _index_names(collection_id) -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE %s ORDER BY relname",
                    [f"%{collection_id.hex}%"])
        return [row[0] for row in cur.fetchall()]


@pytest.mark.django_db(transaction=True)  # the build runs after a real commit, as in production
def test_an_index_build_refused_after_commit_leaves_no_collection(tenant_a, monkeypatch):
    """400 with pgvector's reason, no collection and no index left, and a retry is not a 409."""
    _no_upfront_check(monkeypatch)
    body = {"name": "late", "dimension": 3, "m": 40, "ef_construction": 50}

    r = tenant_a.client.post("/api/v1/collections/", body, format="json")

    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "index_refused" and error["details"]["field"] == "index"
    assert error["message"] == ("index: PostgreSQL refused to build it (ef_construction must be greater than or "
                                "equal to 2 * m); the collection was not created")
    assert not Collection.objects.filter(tenant_id=tenant_a.tenant.pk).exists()
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname LIKE 'emb%%' AND NOT i.indisvalid")
        assert cur.fetchone()[0] == 0, "the failed CONCURRENTLY build left an invalid index behind"

    r = tenant_a.client.post("/api/v1/collections/", {**body, "ef_construction": 80}, format="json")
    assert r.status_code == 201, r.content
    assert Collection.objects.get(tenant_id=tenant_a.tenant.pk, name="late").index_status == IndexStatus.READY


@pytest.mark.django_db(transaction=True)
def test_an_update_whose_rebuild_is_refused_keeps_the_previous_settings(tenant_a, monkeypatch):
    """400 with pgvector's reason; the settings and the index the collection had are still in force."""
    r = tenant_a.client.post("/api/v1/collections/", {"name": "rows", "dimension": 3}, format="json")
    assert r.status_code == 201, r.content
    r = tenant_a.client.post("/api/v1/collections/rows/embeddings/", {"items": [
        {"entity_type": "t", "entity_id": f"e{i}", "vector": [1, i, 0]} for i in range(1, 20)]}, format="json")
    assert r.status_code == 201, r.content
    before = Collection.objects.get(tenant_id=tenant_a.tenant.pk, name="rows")
    assert before.index_status == IndexStatus.READY and _index_names(before.id) == [before.index_name]
    _no_upfront_check(monkeypatch)

    r = tenant_a.client.patch("/api/v1/collections/rows/", {"m": 60}, format="json")

    assert r.status_code == 400, r.content
    assert r.json()["error"]["message"] == (
        "index: PostgreSQL refused to build it (ef_construction must be greater than or equal to 2 * m); "
        "the collection keeps its previous index settings")
    after = Collection.objects.get(pk=before.pk)
    assert (after.m, after.ef_construction, after.index_status) == (16, 100, IndexStatus.READY)
    assert _index_names(after.id) == [before.index_name]  # the old index serves; the failed one is gone
    r = tenant_a.client.post("/api/v1/collections/rows/search/", {"vector": [1, 1, 0], "k": 3}, format="json")
    assert r.status_code == 200 and len(r.json()["results"]) == 3, r.content
