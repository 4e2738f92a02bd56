"""What tenant isolation costs a search: row-level security on against off, in the same run.

Two tenants share the embeddings table (N rows each, 128-d, cosine, one HNSW-indexed collection
each, metadata with a 10% `group`). Each search runs for tenant A:

* the service (`embedding_search`) under `tenant_scope(A)` as the application's login role, so
  PostgreSQL applies the policies (RLS on), against the same call as the tables' owner, whom
  the policies exempt (RLS off);
* raw SQL (HNSW order by distance, the filter as a plain WHERE), on a bare psycopg connection
  as the login role with `agency.tenant_id` set (RLS on), against the owner (RLS off).

Unfiltered HNSW search and a filtered one (10% of the rows; served through the GIN index, which
under RLS needs `jsonb_contains` leakproof) take turns query by query, so the machine's noise
falls on both sides alike. Target: RLS on / off <= 1.05x.

    python bench/tenancy.py            # 20,000 rows per tenant
    python bench/tenancy.py --quick    # 2,000 rows per tenant
"""

from __future__ import annotations

import statistics
import time
from contextlib import nullcontext

import numpy as np
from harness import django_scratch_db, parse_args, print_table, psycopg_dsn

DIM = 128
K = 10


def _fill(rows: int) -> tuple[object, object]:
    from apps.embeddings.services.collections import collection_create
    from apps.embeddings.services.indexes import embeddings_analyze
    from apps.embeddings.services.ingest import embeddings_import
    from apps.tenants.models import Tenant

    collections = []
    for slug, seed in (("bench-a", 1), ("bench-b", 2)):
        tenant = Tenant.objects.create(slug=slug, name=slug)
        col = collection_create(tenant_id=tenant.pk, name="mem", dimension=DIM, index_type="hnsw")
        vectors = np.random.default_rng(seed).normal(size=(rows, DIM)).astype(np.float32)
        items = ({"entity_type": "doc", "entity_id": str(i), "vector": v.tolist(), "metadata": {"group": i % 10}}
                 for i, v in enumerate(vectors))
        embeddings_import(collection=col, items=items, chunk_size=5000)
        collections.append(col)
    embeddings_analyze()
    return collections[0], collections[1]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rows, queries = (2_000, 60) if args.quick else (20_000, 400)
    with django_scratch_db("tenancy"):
        import psycopg
        from pgvector.psycopg import register_vector

        from apps.embeddings.selectors.search import SearchParams, embedding_search
        from apps.embeddings.services.indexes import collection_index_build
        from apps.platform.db.tenancy import as_owner, tenant_scope

        col_a, _ = _fill(rows)
        collection_index_build(collection_id=col_a.pk, concurrently=False)
        tenant = col_a.tenant_id
        qs = np.random.default_rng(7).normal(size=(queries, DIM))
        cases = {"unfiltered": None, "filter 10%": {"group": 3}}
        sql = (f"SELECT id FROM embeddings_embedding WHERE {col_a.predicate} {{where}} "
               f"ORDER BY {col_a.index_cast} <=> %s::vector({DIM}) LIMIT {K}")
        raw_on = psycopg.connect(psycopg_dsn(owner=False), autocommit=True)
        raw_off = psycopg.connect(psycopg_dsn(), autocommit=True)
        raw_on.execute("SELECT set_config('agency.tenant_id', %s, false)", [str(tenant)])
        for conn in (raw_on, raw_off):
            register_vector(conn)
        times: dict[tuple[str, str], list[float]] = {}
        found: dict[str, set] = {}
        for case, flt in cases.items():
            where = "AND metadata @> '{\"group\": 3}'" if flt else ""
            for i, q in enumerate(qs):
                params = SearchParams(vector=q, k=K, filter=flt)
                # (scope, call): the scope is entered before the clock starts (as_owner's SET ROLE is
                # not what is measured), then one search.
                turns = [("service, RLS on", tenant_scope(tenant), lambda p=params: embedding_search(
                             collection=col_a, params=p)),
                         ("service, RLS off", as_owner(), lambda p=params: embedding_search(
                             collection=col_a, params=p)),
                         ("raw SQL, RLS on", nullcontext(), lambda q=q, w=where: raw_on.execute(
                             sql.format(where=w), [q.astype(np.float32)]).fetchall()),
                         ("raw SQL, RLS off", nullcontext(), lambda q=q, w=where: raw_off.execute(
                             sql.format(where=w), [q.astype(np.float32)]).fetchall())]
                for name, scope, fn in (turns if i % 2 else turns[::-1]):
                    with scope:
                        start = time.perf_counter()
                        out = fn()
                        times.setdefault((case, name), []).append(time.perf_counter() - start)
                    if i == 0:
                        found[f"{case}/{name}"] = _ids(out)
        raw_on.close()
        raw_off.close()
        for case in cases:
            for side in ("service", "raw SQL"):
                on, off = found[f"{case}/{side}, RLS on"], found[f"{case}/{side}, RLS off"]
                if on != off or not on:
                    raise SystemExit(f"{case}, {side}: RLS on and off found different rows: {on} / {off}")
        table = []
        for case in cases:
            for side in ("service", "raw SQL"):
                on = statistics.median(times[(case, f"{side}, RLS on")]) * 1000
                off = statistics.median(times[(case, f"{side}, RLS off")]) * 1000
                table.append([case, side, f"{on:.3f}", f"{off:.3f}", f"{on / off:.3f}x"])
        print_table(f"Search p50 for one tenant, row-level security on vs off ({rows:,} rows per tenant, 2 tenants, "
                    f"{DIM}-d HNSW, k={K}, {queries} queries per cell; target <= 1.05x)",
                    ["search", "path", "ms p50 RLS on", "ms p50 RLS off", "on / off"], table)


def _ids(out) -> set:
    if isinstance(out, dict):
        return {str(hit["id"]) for hit in out["results"]}
    return {str(row[0]) for row in out}


if __name__ == "__main__":
    main()
