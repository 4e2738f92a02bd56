"""What tenant isolation costs a search: row-level security on against off, in the same run.

Two tenants share the embeddings table (N rows each, 128-d, cosine, one HNSW-indexed collection
each, metadata with a 10% `group`). Each search runs for tenant A:

* the service (`embedding_search`) under `tenant_scope(A)` as the application's login role, so
  PostgreSQL applies the policies (RLS on), against the same call as the tables' owner, whom
  the policies exempt (RLS off);
* raw SQL (HNSW order by distance, the filter as a plain WHERE), on a bare psycopg connection
  as the login role with `agency.tenant_id` set (RLS on), against the owner (RLS off).

Unfiltered HNSW search and a filtered one (10% of the rows; served through the GIN index, which
under RLS needs `jsonb_contains` leakproof) take turns in blocks of 20 queries, so the machine's
noise falls on both sides alike. Target: RLS on / off <= 1.05x.

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
BLOCK = 20


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
        collection_index_build(collection_id=col_a.pk, concurrently=False)  # a bulk import defers it
        col_a.refresh_from_db()  # its index status as the search reads it: ready
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

            def service(q, flt=flt):
                return embedding_search(collection=col_a, params=SearchParams(vector=q, k=K, filter=flt))

            def raw(conn, w=where):
                return lambda vec: conn.execute(sql.format(where=w), [vec.astype(np.float32)]).fetchall()

            # (scope, call). Blocks of BLOCK queries per side, the order alternating block by block:
            # switching the role (as_owner) makes PostgreSQL re-plan the prepared statements, which a
            # worker acting as one role never does, so each block starts with an untimed query.
            turns = [("service, RLS on", lambda: tenant_scope(tenant), service),
                     ("service, RLS off", as_owner, service),
                     ("raw SQL, RLS on", nullcontext, raw(raw_on)),
                     ("raw SQL, RLS off", nullcontext, raw(raw_off))]
            for b, first in enumerate(range(0, len(qs), BLOCK)):
                block = qs[first:first + BLOCK]
                for name, scope, fn in (turns if b % 2 else turns[::-1]):
                    with scope():
                        fn(block[0])
                        for j, q in enumerate(block):
                            start = time.perf_counter()
                            out = fn(q)
                            times.setdefault((case, name), []).append(time.perf_counter() - start)
                            if first == 0 and j == 0:
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
