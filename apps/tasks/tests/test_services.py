from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.utils import timezone

from apps.agents.tests.factories import AgentFactory
from apps.common.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory
from apps.tenants.selectors import default_tenant_id

CRED = "user:test"  # the credential the lease is bound to (any non-empty id)

pytestmark = pytest.mark.django_db


def _claim_one(worker="w1", **kw):
    tasks = services.task_claim(tenant_id=None, credential=CRED, worker_id=worker, **kw)
    assert len(tasks) == 1
    return tasks[0]


def test_create_validates_and_writes_nothing_on_bad_input(settings):
    agent = AgentFactory()
    task = services.task_create(tenant_id=default_tenant_id(), type="t", data={"a": 1}, priority=5, agent_id=agent.pk)
    assert (task.status, task.attempts, task.max_attempts) == ("pending", 0, settings.AGENCY_TASK_DEFAULT_MAX_ATTEMPTS)
    with pytest.raises(ValidationFailed, match="^priority"):
        services.task_create(tenant_id=default_tenant_id(), type="t", priority=-1)
    with pytest.raises(ValidationFailed, match="^data"):
        services.task_create(tenant_id=default_tenant_id(), type="t", data=[1])
    with pytest.raises(NotFound, match="^agent_id"):  # 404, as an agent of another tenant (no existence leak)
        services.task_create(tenant_id=default_tenant_id(), type="t", agent_id="00000000-0000-0000-0000-000000000000")
    settings.AGENCY_TASK_MAX_PAYLOAD_BYTES = 50
    with pytest.raises(PayloadTooLarge, match="^data"):
        services.task_create(tenant_id=default_tenant_id(), type="t", data={"x": "y" * 100})
    assert Task.objects.count() == 1


def test_claim_orders_by_priority_then_age_and_skips_future_and_other_types():
    low = TaskFactory(priority=1)
    high_old = TaskFactory(priority=9)
    high_new = TaskFactory(priority=9)
    TaskFactory(priority=50, run_after=timezone.now() + timedelta(hours=1))  # not due
    TaskFactory(priority=99, type="other")
    claimed = services.task_claim(tenant_id=None, credential=CRED, worker_id="w1", types=["summarize"], limit=10)
    assert [t.pk for t in claimed] == [high_old.pk, high_new.pk, low.pk]
    for t in claimed:
        assert (t.status, t.lease_owner, t.attempts) == ("running", "w1", 1)
        assert t.lease_expires_at > timezone.now()
        assert t.started_at is not None
    assert services.task_claim(tenant_id=None, credential=CRED, worker_id="w2", types=["summarize"], limit=10) == []


def test_claim_validates_input():
    TaskFactory()
    with pytest.raises(ValidationFailed, match="^limit"):
        services.task_claim(tenant_id=None, credential=CRED, worker_id="w", limit=0)
    with pytest.raises(ValidationFailed, match="^worker_id"):
        services.task_claim(tenant_id=None, credential=CRED, worker_id="", limit=1)
    assert Task.objects.get().status == "pending"


def test_complete_only_by_lease_owner_and_only_once():
    TaskFactory()
    task = _claim_one("w1")
    with pytest.raises(Conflict, match="another worker") as exc:
        services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="intruder", result={"x": 1})
    assert exc.value.code == "lease_not_owned"
    done = services.task_complete(tenant_id=None, credential=CRED,
                                  task_id=task.pk, worker_id="w1", result={"answer": 42})
    assert (done.status, done.result, done.lease_owner) == ("completed", {"answer": 42}, "")
    assert done.finished_at is not None and done.version == task.version + 1
    with pytest.raises(Conflict, match="completed; it cannot become completed") as exc:
        services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1", result={})
    assert exc.value.details == {"current": "completed", "requested": "completed"}
    with pytest.raises(NotFound):
        services.task_complete(tenant_id=None, credential=CRED,
                               task_id="00000000-0000-0000-0000-000000000000", worker_id="w1")


def test_heartbeat_extends_lease_for_owner_only():
    TaskFactory()
    task = _claim_one("w1", lease_seconds=10)
    beat = services.task_heartbeat(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1", lease_seconds=600)
    assert beat.lease_expires_at > task.lease_expires_at
    with pytest.raises(Conflict):
        services.task_heartbeat(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w2")
    services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1")
    with pytest.raises(Conflict, match="only a running task"):
        services.task_heartbeat(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1")


def test_fail_requeues_with_exponential_backoff_then_fails(settings):
    settings.AGENCY_TASK_BACKOFF_BASE_SECONDS = 10
    TaskFactory(max_attempts=3)
    delays = []
    for attempt in (1, 2):
        task = _claim_one("w1")
        assert task.attempts == attempt
        failed = services.task_fail(tenant_id=None, credential=CRED,
                                    task_id=task.pk, worker_id="w1", error=f"boom {attempt}")
        assert failed.status == "pending" and failed.error == f"boom {attempt}"
        delays.append((failed.run_after - failed.updated_at).total_seconds())
        Task.objects.filter(pk=task.pk).update(run_after=timezone.now() - timedelta(seconds=1))
    assert delays == pytest.approx([10, 20], abs=0.5)
    task = _claim_one("w1")
    final = services.task_fail(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1", error="boom 3")
    assert (final.status, final.attempts, final.error) == ("failed", 3, "boom 3")
    assert final.finished_at is not None


def test_fail_not_retryable_fails_at_once():
    TaskFactory(max_attempts=5)
    task = _claim_one()
    assert services.task_fail(tenant_id=None, credential=CRED,
                              task_id=task.pk, worker_id="w1", error="bad input", retryable=False).status == "failed"


def test_cancel_retry_requeue_state_machine():
    pending = TaskFactory()
    cancelled = services.task_cancel(tenant_id=None, task_id=pending.pk)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict, match="cancelled; it cannot become cancelled"):
        services.task_cancel(tenant_id=None, task_id=pending.pk)
    retried = services.task_retry(tenant_id=None, task_id=pending.pk)
    assert (retried.status, retried.attempts) == ("pending", 0)
    with pytest.raises(Conflict, match="only failed or cancelled"):
        services.task_retry(tenant_id=None, task_id=pending.pk)
    with pytest.raises(Conflict, match="only running"):
        services.task_requeue(tenant_id=None, task_id=pending.pk)
    running = _claim_one("w1")
    requeued = services.task_requeue(tenant_id=None, task_id=running.pk)
    assert (requeued.status, requeued.lease_owner, requeued.attempts) == ("pending", "", 1)
    with pytest.raises(Conflict):  # the old lease holder lost it
        services.task_complete(tenant_id=None, credential=CRED, task_id=running.pk, worker_id="w1")
    # operator writes go through save(): each one has an auditlog entry
    assert LogEntry.objects.get_for_object(requeued).filter(action=LogEntry.Action.UPDATE).count() >= 3


def test_cancel_of_running_task_makes_the_worker_complete_409():
    TaskFactory()
    task = _claim_one("w1")
    services.task_cancel(tenant_id=None, task_id=task.pk)
    with pytest.raises(Conflict, match="cancelled; it cannot become completed"):
        services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1")
    assert Task.objects.get(pk=task.pk).status == "cancelled"


def test_reaper_returns_expired_leases_and_is_idempotent():
    TaskFactory.create_batch(3, max_attempts=3)
    exhausted = TaskFactory(max_attempts=1, priority=0)
    claimed = services.task_claim(tenant_id=None, credential=CRED, worker_id="dead", limit=4)
    assert len(claimed) == 4
    alive = claimed[0]
    Task.objects.exclude(pk=alive.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert services.task_reap_expired_leases() == {"requeued": 2, "failed": 1}
    assert services.task_reap_expired_leases() == {"requeued": 0, "failed": 0}
    statuses = dict(Task.objects.values_list("pk", "status"))
    assert statuses[alive.pk] == "running"
    assert statuses[exhausted.pk] == "failed"
    assert sorted(statuses.values()) == ["failed", "pending", "pending", "running"]
    reaped = Task.objects.filter(status="pending").first()
    assert reaped.lease_owner == "" and "lease of dead expired" in reaped.error


def test_reap_command_and_batches():
    from io import StringIO

    from django.core.management import call_command

    TaskFactory.create_batch(5)
    services.task_claim(tenant_id=None, credential=CRED, worker_id="gone", limit=5)
    Task.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("reap_expired_leases", "--batch-size", "2", stdout=out)
    assert out.getvalue().strip() == "requeued 5, failed 0"
    assert set(Task.objects.values_list("status", flat=True)) == {"pending"}


def test_complete_rejects_non_object_or_oversized_result(settings):
    TaskFactory()
    task = _claim_one()
    with pytest.raises(ValidationFailed, match="^result"):
        services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1", result=[1])
    settings.AGENCY_TASK_MAX_PAYLOAD_BYTES = 10
    with pytest.raises(PayloadTooLarge, match="^result"):
        services.task_complete(tenant_id=None, credential=CRED, task_id=task.pk, worker_id="w1", result={"a": "x" * 50})
    assert Task.objects.get(pk=task.pk).status == "running"


def test_claim_query_can_use_the_partial_claim_index():
    """The planner can serve the claim's inner SELECT from `tasks_claim_idx` (tenant + status predicate, order)."""
    from django.db import connection

    TaskFactory.create_batch(3)
    inner = services.claim_sql().split("WHERE id IN (", 1)[1].rsplit(")", 1)[0]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN " + inner, {"limit": 10, "types": [], "agent": None, "tenant": default_tenant_id()})
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "tasks_claim_idx" in plan, plan
    assert "Sort" not in plan.split("tasks_claim_idx")[0].splitlines()[-1], plan
