"""The filter language: compiled SQL equals a Python evaluation of the same filter (property-based),
errors name the filter path, and metadata equality is served by the GIN index."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.common.errors import ValidationFailed
from apps.embeddings.selectors.filters import filter_compile
from apps.embeddings.services.collections import collection_create
from apps.embeddings.services.indexes import embeddings_analyze
from apps.embeddings.services.ingest import embeddings_upsert
from apps.tenants.selectors import default_tenant_id

pytestmark = pytest.mark.django_db

MISSING = object()


# --- the reference evaluator (independent of the compiler) --------------------------------------
def _get(meta, key):
    cur = meta
    for seg in key.split("."):
        if isinstance(cur, dict) and seg in cur:
            cur = cur[seg]
        else:
            return MISSING
    return cur


def _json_eq(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def _like(text: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _cmp(op, x, v) -> bool:
    return {"$gt": x > v, "$gte": x >= v, "$lt": x < v, "$lte": x <= v}[op]


def _op(key, op, val, row) -> bool:
    if key in ("entity_type", "entity_id"):
        x = row[key]
        return {
            "$eq": lambda: x == val, "$ne": lambda: x != val, "$in": lambda: x in val,
            "$nin": lambda: x not in val, "$like": lambda: _like(x, val), "$exists": lambda: val,
        }.get(op, lambda: _cmp(op, x, val))()
    x = _get(row["metadata"], key)
    if op in ("$eq", "$ne"):
        hit = x is not MISSING and _json_eq(x, val)
        return hit if op == "$eq" else not hit
    if op in ("$in", "$nin"):
        hit = x is not MISSING and any(_json_eq(x, v) for v in val)
        return hit if op == "$in" else not hit
    if op == "$exists":
        return (x is not MISSING) == val
    if op == "$contains":
        return isinstance(x, list) and any(_json_eq(e, val) for e in x)
    if op == "$like":
        return isinstance(x, str) and _like(x, val)
    if isinstance(val, str):
        return isinstance(x, str) and _cmp(op, x, val)
    return isinstance(x, int | float) and not isinstance(x, bool) and _cmp(op, x, val)


def evaluate(spec, row) -> bool:
    for key, value in spec.items():
        if key == "$and":
            ok = all(evaluate(s, row) for s in value)
        elif key == "$or":
            ok = any(evaluate(s, row) for s in value)
        elif key == "$not":
            ok = not evaluate(value, row)
        else:
            ops = value if isinstance(value, dict) else {"$eq": value}
            ok = all(_op(key, op, v, row) for op, v in ops.items())
        if not ok:
            return False
    return True


# --- generated rows and filters -------------------------------------------------------------------
def _rows(n: int = 60) -> list[dict]:
    rng = np.random.default_rng(3)
    pick = lambda xs: xs[rng.integers(len(xs))]  # noqa: E731
    rows = []
    for i in range(n):
        meta = {}
        for key, values in {
            "color": ["red", "blue", "green", 1, True, None, "Red"],
            "n": [0, 1, 2, 2.5, -1, "2", False, None],
            "tags": [["red", "x"], ["blue"], [], [1, "red"], "red"],
            "a": [{"b": 1}, {"b": "1"}, {"c": 2}, "s", [{"b": 1}]],
        }.items():
            if rng.random() < 0.8:
                meta[key] = pick(values)
        rows.append({"entity_type": pick(["doc", "note"]), "entity_id": f"{i:02d}", "metadata": meta})
    return rows


scalars = st.one_of(st.sampled_from(["red", "blue", "green", "Red", "2", "1"]), st.integers(-2, 3),
                    st.sampled_from([2.5, 1.0]), st.booleans(), st.none())
keys = st.sampled_from(["color", "n", "tags", "a.b", "a", "missing"])


def _leaf():
    meta = st.one_of(
        st.tuples(keys, st.sampled_from(["$eq", "$ne", "$contains"]), scalars),
        st.tuples(keys, st.sampled_from(["$in", "$nin"]), st.lists(scalars, max_size=4)),
        st.tuples(keys, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
                  st.one_of(st.integers(-2, 3), st.sampled_from([1.5, "blue", "r", "Red", "1"]))),
        st.tuples(keys, st.just("$exists"), st.booleans()),
        st.tuples(keys, st.just("$like"), st.sampled_from(["r%", "%e%", "_lue", "%", "R_d", "1"])),
        st.tuples(st.just("entity_type"), st.sampled_from(["$eq", "$ne"]), st.sampled_from(["doc", "note"])),
        st.tuples(st.just("entity_id"), st.sampled_from(["$gt", "$lte", "$like"]), st.sampled_from(["3%", "30", "1_"])),
        st.tuples(st.just("entity_id"), st.sampled_from(["$in", "$nin"]), st.lists(st.sampled_from(["01", "05", "x"]))),
    )
    return st.one_of(
        meta.map(lambda t: {t[0]: {t[1]: t[2]}}),
        st.tuples(st.sampled_from(["color", "n"]), scalars).map(lambda t: {t[0]: t[1]}),  # shorthand $eq
    )


filters = st.recursive(
    _leaf(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"$and": xs}),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"$or": xs}),
        children.map(lambda x: {"$not": x}),
        st.tuples(children, children).map(lambda t: {**t[0], **t[1]}),
    ),
    max_leaves=6,
)


def test_compiled_filters_equal_the_python_evaluator():
    col = collection_create(tenant_id=default_tenant_id(), name="f", dimension=2, index_type="none")
    rows = _rows()
    items = [{**r, "vector": [1.0, float(i + 1)]} for i, r in enumerate(rows)]
    embeddings_upsert(collection=col, items=items)

    sizes: set[int] = set()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(filters)
    def check(spec):
        sql, params = filter_compile(spec)
        with connection.cursor() as cur:
            cur.execute(f"SELECT entity_id FROM embeddings_embedding WHERE {col.predicate} AND {sql}", params)
            got = sorted(r[0] for r in cur.fetchall())
        expected = sorted(r["entity_id"] for r in rows if evaluate(spec, r))
        assert got == expected, (spec, sql, params)
        sizes.add(len(expected))

    check()
    assert len(sizes) > 10  # the generated filters really discriminate between rows


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"$and": [{"a": 1}, {"color": {"$regex": "x"}}]}, "filter.$and[1].color: unknown operator $regex"),
        ({"$or": []}, "filter.$or: expected a non-empty list"),
        ({"bad key!": 1}, "filter.bad key!: invalid field name"),
        ({"n": {"$gt": [1]}}, "filter.n.$gt: expected a number or a string"),
        ({"n": {"$in": "x"}}, "filter.n.$in: expected a list"),
        ({"n": {"$exists": "yes"}}, "filter.n.$exists: expected true or false"),
        ({"created_at": {"$gt": "yesterday"}}, "filter.created_at.$gt: expected an ISO 8601 date-time"),
        ({"$bogus": 1}, "filter.$bogus: unknown operator $bogus"),
        ([1], "filter: expected an object"),
    ],
)
def test_filter_errors_name_the_path(spec, message):
    with pytest.raises(ValidationFailed) as err:
        filter_compile(spec)
    assert err.value.message.startswith(message)


def test_filter_depth_and_size_are_bounded():
    deep: dict = {"a": 1}
    for _ in range(10):
        deep = {"$not": deep}
    with pytest.raises(ValidationFailed, match="nested deeper"):
        filter_compile(deep)
    with pytest.raises(ValidationFailed, match="too large"):
        filter_compile({"$or": [{"a": i} for i in range(300)]})


def test_values_are_parameters_never_sql():
    sql, params = filter_compile({"color": "x'); DROP TABLE embeddings_embedding; --", "n": {"$like": "%'"}})
    assert "DROP" not in sql and "'" not in sql.replace("'string'", "")
    assert any("DROP" in str(p) for p in params)


def test_metadata_equality_is_served_by_the_gin_index():
    col = collection_create(tenant_id=default_tenant_id(), name="g", dimension=2, index_type="none")
    items = [{"entity_type": "doc", "entity_id": str(i), "vector": [1.0, float(i)],
              "metadata": {"color": ["red", "blue", "green"][i % 3], "i": i}} for i in range(1, 301)]
    embeddings_upsert(collection=col, items=items)
    sql, params = filter_compile({"color": {"$in": ["red", "blue"]}, "i": 7})
    embeddings_analyze()  # as the owner: the login role's ANALYZE would be skipped with a warning
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(f"EXPLAIN SELECT id FROM embeddings_embedding WHERE {col.predicate} AND {sql}", params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "emb_metadata_gin" in plan
