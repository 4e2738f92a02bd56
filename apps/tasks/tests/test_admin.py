import pytest
from django.urls import reverse

from apps.tasks import services
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory

CRED = "user:test"  # the credential the lease is bound to (any non-empty id)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, operator):
    client.force_login(operator)
    return client


def _act(client, action, tasks):
    return client.post(reverse("admin:tasks_task_changelist"),
                       {"action": action, "_selected_action": [str(t.pk) for t in tasks]})


def test_changelist_and_change_page(admin_client_):
    task = TaskFactory(type="crawl", data={"url": "https://example.org"})
    r = admin_client_.get(reverse("admin:tasks_task_changelist"), {"status__exact": "pending", "q": "crawl"})
    assert r.status_code == 200 and str(task.pk).encode() in r.content
    r = admin_client_.get(reverse("admin:tasks_task_change", args=[task.pk]))
    assert r.status_code == 200 and b"&quot;url&quot;" in r.content and b"change history" in r.content.lower()


def test_actions_cancel_retry_requeue(admin_client_):
    pending, other = TaskFactory(), TaskFactory(priority=0)
    assert _act(admin_client_, "cancel_selected", [pending]).status_code == 302
    assert Task.objects.get(pk=pending.pk).status == "cancelled"
    assert _act(admin_client_, "retry_selected", [pending]).status_code == 302
    assert Task.objects.get(pk=pending.pk).status == "pending"
    running = services.task_claim(tenant_id=None, credential=CRED, worker_id="stuck", limit=1)[0]
    r = _act(admin_client_, "requeue_selected", [running, other])  # `other` is pending: refused, reported
    assert r.status_code == 302
    assert Task.objects.get(pk=running.pk).status == "pending"
    assert Task.objects.get(pk=other.pk).status == "pending"
    msgs = [str(m) for m in admin_client_.get(reverse("admin:tasks_task_changelist")).context["messages"]]
    assert any("only running tasks can be requeued" in m for m in msgs)
