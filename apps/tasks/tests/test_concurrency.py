"""The queue's central promise, proven with real threads on real PostgreSQL connections."""

import threading
from collections import Counter

import pytest
from django.db import connections

from apps.tasks import services
from apps.tasks.models import Task
from apps.tenants.selectors import default_tenant_id

CRED = "user:test"  # the credential the lease is bound to (any non-empty id)

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 8
TASKS = 2000


def test_eight_claimers_drain_2000_tasks_each_exactly_once():
    tenant_id = default_tenant_id()  # claims carry the tenant predicate, as every API claim does
    Task.objects.bulk_create(Task(tenant_id=tenant_id, type="job", priority=i % 5, data={"n": i}) for i in range(TASKS))
    done: dict[str, list] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

    def worker(name: str) -> None:
        mine = done.setdefault(name, [])
        try:
            start.wait()
            while True:
                batch = services.task_claim(tenant_id=tenant_id, credential=CRED, worker_id=name, limit=10)
                if not batch:
                    return
                for task in batch:
                    services.task_complete(tenant_id=tenant_id, credential=CRED,
                                           task_id=task.pk, worker_id=name, result={"by": name})
                    mine.append(task.pk)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    completed_ids = [pk for ids in done.values() for pk in ids]
    counts = Counter(completed_ids)
    assert len(counts) == TASKS, "a task was lost"
    assert max(counts.values()) == 1, "a task was completed twice"
    assert sum(1 for ids in done.values() if ids) > 1, "only one claimer did any work"
    rows = Task.objects.values_list("status", "attempts", "lease_owner", "result")
    assert Counter(r[0] for r in rows) == {"completed": TASKS}
    assert all(r[1] == 1 for r in rows), "a task was claimed more than once"
    # the worker recorded in the result is the one that claimed and completed it
    by_worker = {pk: name for name, ids in done.items() for pk in ids}
    for pk, result in Task.objects.values_list("pk", "result"):
        assert result == {"by": by_worker[pk]}
