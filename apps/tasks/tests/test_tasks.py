"""The reaper through the real broker and a real Celery worker process."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.tasks import reap_expired_leases_task
from apps.tasks.tests.factories import TaskFactory

CRED = "user:test"  # the credential the lease is bound to (any non-empty id)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_reaper_runs_in_the_real_worker_and_returns_expired_lease_to_pending(celery_worker):
    TaskFactory(max_attempts=3)
    TaskFactory(priority=0)
    expired, alive = services.task_claim(tenant_id=None, credential=CRED, worker_id="crashed", limit=2)
    Task.objects.filter(pk=expired.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=5))

    outcome = reap_expired_leases_task.delay().get(timeout=60)

    assert outcome == {"requeued": 1, "failed": 0}
    expired.refresh_from_db()
    alive.refresh_from_db()
    assert (expired.status, expired.lease_owner, expired.lease_expires_at) == ("pending", "", None)
    assert alive.status == "running"
    # idempotent: a second run through the worker changes nothing
    assert reap_expired_leases_task.delay().get(timeout=60) == {"requeued": 0, "failed": 0}
    # the reaped task can be claimed again by a live worker
    again = services.task_claim(tenant_id=None, credential=CRED, worker_id="healthy", limit=5)
    assert [t.pk for t in again] == [expired.pk]
    assert again[0].attempts == 2


@pytest.mark.django_db
def test_reaper_is_scheduled_in_beat():
    from django_celery_beat.models import PeriodicTask

    periodic = PeriodicTask.objects.get(name="tasks: reap expired leases")
    assert periodic.task == reap_expired_leases_task.name == "agency.tasks.reap_expired_leases"
    assert periodic.enabled and periodic.interval.every == 60
