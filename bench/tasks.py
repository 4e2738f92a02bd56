"""Claim-complete throughput of the task queue: the service vs raw psycopg running the same SQL.

Both paths act for one tenant, as every API worker does since tenancy (#13): the claim carries
`tenant_id = %(tenant)s` (served by `tasks_claim_idx`, which leads with tenant_id), and complete
carries the tenant and the lease's credential in its WHERE clause. The third path measures what
that costs in the same run: raw psycopg running the statements without the tenant predicate,
with the pre-tenancy claim index `(priority DESC, created_at) WHERE pending` created for its turns
only (and dropped before the others', so they run on the real schema).

For 1 and 4 concurrent claimers the queue is filled and drained by claim(limit=BATCH) → complete
each. Each claimer is its own process with its own connection, as real workers are (threads in
one process would mostly measure the GIL). The baseline is a bare psycopg loop running exactly
the statements the service runs (`claim_sql()`, `owned_update_sql(COMPLETE_SET)`), autocommit,
prepared after psycopg's default 5 executions, no models: the ratio is what the service layer
costs (validation, Task instances, Django's connection handling, metrics). The paths take
turns on chunks of 2,000 tasks so that this shared machine's noise falls on all of them alike.
Duplicates = claims of a task already claimed in that run (must be 0); lost = tasks not completed.

Row-level security (apps/platform/db/tenancy.py) is measured the same way: the raw baseline runs
as the tables' owner (the policies exempt it), `raw_rls` as the login role with the tenant set,
the service under `tenant_scope` (RLS on) and under `as_owner()` (RLS off); a second table puts
each pair side by side (target <= 1.05x).

    python bench/tasks.py            # 20,000 tasks per path
    python bench/tasks.py --quick    # 200 tasks per path
    python bench/tasks.py --tasks 4000
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
import traceback

from harness import django_scratch_db, parse_args, print_table, psycopg_dsn

BATCH = 10
CHUNK = 2000  # tasks per turn; the paths alternate turn by turn
PATHS = {
    "raw": "raw psycopg (same SQL), RLS off (table owner)",
    "raw_rls": "raw psycopg (same SQL), RLS on (login role, tenant set)",
    "service": "service (apps.tasks.services), RLS on",
    "service_rls_off": "service, RLS off (as the table owner)",
    "untenanted": "raw psycopg, no tenant predicate (pre-tenancy SQL and index)",
}
UNTENANTED_INDEX = "bench_untenanted_claim_idx"


def _tenant_id() -> int:
    from apps.tenants.selectors import default_tenant_id

    return default_tenant_id()


def _seed(n: int, path: str) -> None:
    from django.db import connection

    from apps.platform.db.tenancy import as_owner

    with as_owner(), connection.cursor() as cur:  # DDL and ANALYZE: the owner's
        cur.execute("TRUNCATE tasks_task")
        cur.execute(f"DROP INDEX IF EXISTS {UNTENANTED_INDEX}")
        if path == "untenanted":
            cur.execute(f"CREATE INDEX {UNTENANTED_INDEX} ON tasks_task (priority DESC, created_at)"
                        " WHERE status = 'pending'")
        cur.execute(
            """INSERT INTO tasks_task (id, tenant_id, created_at, updated_at, type, status, priority, data, error,
                                       attempts, max_attempts, run_after, lease_owner, lease_credential, version)
               SELECT gen_random_uuid(), %s, clock_timestamp(), clock_timestamp(), 'bench', 'pending', i %% 5,
                      jsonb_build_object('n', i), '', 0, 3, now() - interval '1 second', '', '', 1
                 FROM generate_series(1, %s) AS i""",
            [_tenant_id(), n],
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


def _service_body(i: int, barrier, tenant_id: int, rls: bool = True) -> list[str]:
    from contextlib import ExitStack

    from django.db import connections

    from apps.platform.db.tenancy import as_owner, tenant_scope
    from apps.tasks import services

    worker, mine = f"svc-{i}", []
    scope = {"tenant_id": tenant_id, "credential": f"key:bench{i}"}
    with ExitStack() as stack:
        # RLS on: the claimer acts for its tenant, as an API worker's request does; off: the owner.
        stack.enter_context(tenant_scope(tenant_id) if rls else as_owner())
        return _service_loop(barrier, services, scope, worker, mine, connections)


def _service_loop(barrier, services, scope: dict, worker: str, mine: list[str], connections) -> list[str]:
    try:
        services.task_claim(**scope, worker_id=worker, types=["none"], limit=1)  # connect before the clock starts
        barrier.wait()
        while batch := services.task_claim(**scope, worker_id=worker, limit=BATCH):
            for task in batch:
                services.task_complete(**scope, task_id=task.pk, worker_id=worker, result={"ok": True})
                mine.append(str(task.pk))
    finally:
        connections.close_all()
    return mine


def _raw_body(i: int, barrier, dsn: str, tenant_id: int, with_tenant: bool = True,
              rls: bool = False) -> list[str]:
    import psycopg

    from apps.tasks.services import COMPLETE_SET, claim_sql, owned_update_sql

    claim = claim_sql(with_tenant=with_tenant)
    complete = owned_update_sql(COMPLETE_SET, with_tenant=with_tenant)
    result = json.dumps({"ok": True})
    worker, mine, credential = f"raw-{i}", [], f"key:bench{i}"
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        if rls:
            cur.execute("SELECT set_config('agency.tenant_id', %s, false)", [str(tenant_id)])
        barrier.wait()
        while True:
            cur.execute(claim, {"worker": worker, "credential": credential, "tenant": tenant_id, "limit": BATCH,
                                "types": [], "agent": None, "lease": 300.0})
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                return mine
            for pk in ids:
                cur.execute(complete, {"id": pk, "worker": worker, "credential": credential, "tenant": tenant_id,
                                       "result": result})
                cur.fetchall()
                mine.append(str(pk))


def _child(i: int, barrier, results, path: str, dsn: str, tenant_id: int) -> None:
    try:
        if path.startswith("service"):
            mine = _service_body(i, barrier, tenant_id, rls=path == "service")
        elif path == "raw_rls":
            mine = _raw_body(i, barrier, psycopg_dsn(owner=False), tenant_id, rls=True)
        else:
            mine = _raw_body(i, barrier, dsn, tenant_id, with_tenant=path == "raw")
        results.put((i, mine, None))
    except BaseException:
        barrier.abort()
        results.put((i, [], traceback.format_exc()))


def run(path: str, claimers: int, dsn: str) -> tuple[float, list[list]]:
    """Drain the queue with `claimers` forked processes; wall time from the common start to the last one done."""
    from django.db import connections

    tenant_id = _tenant_id()
    connections.close_all()  # never share a connection with forked children (the parent runs no threads)
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(claimers + 1), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(i, barrier, results, path, dsn, tenant_id)) for i in range(claimers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    outcomes = [results.get(timeout=1800) for _ in procs]
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    errors = [err for _, _, err in outcomes if err]
    if errors:
        raise SystemExit(f"a claimer failed:\n{errors[0]}")
    return elapsed, [mine for _, mine, _ in sorted(outcomes)]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--tasks", type=int, default=None,
                                                                        help="tasks per run (default 20,000)"))
    n = args.tasks or (200 if args.quick else 20_000)
    with django_scratch_db("tasks"):
        dsn = psycopg_dsn()
        rows = []
        chunk = min(n, CHUNK)
        rounds = max(1, n // chunk)
        for claimers in (1, 4):
            totals = {path: [0.0, 0, 0] for path in PATHS}  # seconds, duplicates, lost
            # The paths take turns on chunks of the queue, so that the noise of this shared machine
            # falls on all of them alike instead of on whichever ran during a busy minute.
            for _ in range(rounds):
                for path in PATHS:
                    _seed(chunk, path)
                    elapsed, claimed = run(path, claimers, dsn)
                    duplicates, lost = _verify(chunk, claimed)
                    totals[path][0] += elapsed
                    totals[path][1] += duplicates
                    totals[path][2] += lost
            measured = {path: (chunk * rounds / t[0], t[0], t[1], t[2]) for path, t in totals.items()}
            raw_tps = measured["raw"][0]
            for path, label in PATHS.items():
                tps, elapsed, duplicates, lost = measured[path]
                rows.append([claimers, label, chunk * rounds, round(elapsed, 2), round(tps), round(raw_tps),
                             f"{tps / raw_tps:.2f}x", duplicates, lost])
        print_table(
            f"Task queue claim+complete throughput, one tenant's claims (claim batch {BATCH}; {chunk * rounds:,} tasks"
            f" per path in turns of {chunk:,}; one process per claimer)",
            ["claimers", "path", "tasks", "seconds", "tasks/s", "raw tasks/s", "ratio vs raw", "duplicates", "lost"],
            rows,
        )
        rls_rows = []
        for claimers in (1, 4):
            got = {r[1]: r[4] for r in rows if r[0] == claimers}
            for on, off in (("raw_rls", "raw"), ("service", "service_rls_off")):
                rls_rows.append([claimers, PATHS[on].split(",")[0], got[PATHS[on]], got[PATHS[off]],
                                 f"{got[PATHS[off]] / got[PATHS[on]]:.3f}x"])
        print_table("Row-level security's cost on claim+complete (same run; target <= 1.05x)",
                    ["claimers", "path", "tasks/s RLS on", "tasks/s RLS off", "time on/off"], rls_rows)
        bad = [r for r in rows if r[-2] or r[-1]]
        if bad:
            raise SystemExit(f"duplicates or lost tasks: {bad}")


if __name__ == "__main__":
    main()
