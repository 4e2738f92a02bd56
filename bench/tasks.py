"""Claim-complete throughput of the task queue: the service vs raw psycopg running the same SQL.

For 1 and 4 concurrent claimers (threads, one DB connection each) the queue is filled with N
tasks and drained by claim(limit=BATCH) → complete each. The baseline is a bare psycopg loop
running exactly the statements the service runs (`claim_sql()`, `owned_update_sql(COMPLETE_SET)`),
autocommit, no models, no cache invalidation: the ratio is what the service layer costs.
Duplicates = claims of a task already claimed in that run (must be 0); lost = tasks not completed.

    python bench/tasks.py            # 20,000 tasks per run
    python bench/tasks.py --quick    # 200 tasks per run
    python bench/tasks.py --tasks 5000
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

from harness import django_scratch_db, parse_args, print_table, psycopg_dsn

BATCH = 10
PATHS = {
    "raw": "raw psycopg (same SQL)",
    "service": "service",
    "service-nocache": "service, row-cache invalidation off (attribution)",
}


def _seed(n: int) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE tasks_task")
        cur.execute(
            """INSERT INTO tasks_task (id, created_at, updated_at, type, status, priority, data, error, attempts,
                                       max_attempts, run_after, lease_owner, version)
               SELECT gen_random_uuid(), clock_timestamp(), clock_timestamp(), 'bench', 'pending', i %% 5,
                      jsonb_build_object('n', i), '', 0, 3, now() - interval '1 second', '', 1
                 FROM generate_series(1, %s) AS i""",
            [n],
        )
        cur.execute("ANALYZE tasks_task")


def _verify(n: int, claimed: list[list]) -> tuple[int, int]:
    from django.db import connection

    flat = [pk for ids in claimed for pk in ids]
    duplicates = len(flat) - len(set(flat))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE attempts > 1)"
                    " FROM tasks_task")
        completed, reclaimed = cur.fetchone()
    return duplicates + reclaimed, n - completed


def _run_threads(claimers: int, body) -> tuple[float, list[list]]:
    claimed: list[list] = [[] for _ in range(claimers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(claimers + 1)

    def run(i: int) -> None:
        try:
            body(i, claimed[i], barrier)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(claimers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed, claimed


def run_service(claimers: int, invalidate: bool = True) -> tuple[float, list[list]]:
    from django.db import connections

    from apps.tasks import services
    from apps.tasks.services import task_claim, task_complete

    real_invalidate = services.instances_invalidate
    if not invalidate:  # attribution only: what the row-cache invalidation (the cache app) costs
        services.instances_invalidate = lambda model, pks: None

    def body(i: int, mine: list, barrier: threading.Barrier) -> None:
        worker = f"svc-{i}"
        try:
            task_claim(worker_id=worker, types=["none"], limit=1)  # open the connection before timing
            barrier.wait()
            while batch := task_claim(worker_id=worker, limit=BATCH):
                for task in batch:
                    task_complete(task_id=task.pk, worker_id=worker, result={"ok": True})
                    mine.append(task.pk)
        finally:
            connections.close_all()

    try:
        return _run_threads(claimers, body)
    finally:
        services.instances_invalidate = real_invalidate


def run_raw(claimers: int, dsn: str) -> tuple[float, list[list]]:
    import psycopg

    from apps.tasks.services import COMPLETE_SET, claim_sql, owned_update_sql

    claim, complete = claim_sql(), owned_update_sql(COMPLETE_SET)
    result = json.dumps({"ok": True})

    def body(i: int, mine: list, barrier: threading.Barrier) -> None:
        worker = f"raw-{i}"
        with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
            barrier.wait()
            while True:
                cur.execute(claim, {"worker": worker, "limit": BATCH, "types": [], "agent": None, "lease": 300.0})
                ids = [row[0] for row in cur.fetchall()]
                if not ids:
                    return
                for pk in ids:
                    cur.execute(complete, {"id": pk, "worker": worker, "result": result})
                    cur.fetchall()
                    mine.append(pk)

    return _run_threads(claimers, body)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--tasks", type=int, default=None,
                                                                        help="tasks per run (default 20,000)"))
    n = args.tasks or (200 if args.quick else 20_000)
    with django_scratch_db("tasks"):
        dsn = psycopg_dsn()
        rows = []
        for claimers in (1, 4):
            measured = {}
            for path in PATHS:
                _seed(n)
                if path == "raw":
                    elapsed, claimed = run_raw(claimers, dsn)
                else:
                    elapsed, claimed = run_service(claimers, invalidate=path == "service")
                duplicates, lost = _verify(n, claimed)
                per_worker = Counter(len(c) for c in claimed)
                measured[path] = (n / elapsed, elapsed, duplicates, lost, per_worker)
            raw_tps = measured["raw"][0]
            for path in PATHS:
                tps, elapsed, duplicates, lost, _ = measured[path]
                rows.append([claimers, PATHS[path], n,
                             round(elapsed, 2), round(tps), round(raw_tps), f"{tps / raw_tps:.2f}x",
                             duplicates, lost])
        print_table(
            f"Task queue claim+complete throughput (batch {BATCH}, {n:,} tasks per run)",
            ["claimers", "path", "tasks", "seconds", "tasks/s", "raw tasks/s", "ratio vs raw", "duplicates", "lost"],
            rows,
        )
        bad = [r for r in rows if r[-2] or r[-1]]
        if bad:
            raise SystemExit(f"duplicates or lost tasks: {bad}")


if __name__ == "__main__":
    main()
