from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_redis import get_redis_connection

from apps.audit.models import AccessLog
from apps.audit.services import BUFFER_KEY, access_log_flush, audit_purge

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_buffer():
    get_redis_connection("default").delete(BUFFER_KEY)
    yield
    get_redis_connection("default").delete(BUFFER_KEY)


def test_api_requests_are_buffered_in_redis_then_flushed_in_bulk(api_client, user):
    api_client.get("/api/v1/me/")
    api_client.get("/api/v1/does-not-exist/")
    assert AccessLog.objects.count() == 0  # nothing written on the request path
    assert get_redis_connection("default").llen(BUFFER_KEY) == 2

    assert access_log_flush() == 2
    rows = list(AccessLog.objects.order_by("timestamp"))
    assert [(r.path, r.status_code) for r in rows] == [("/api/v1/me/", 200), ("/api/v1/does-not-exist/", 404)]
    assert rows[0].user_id == user.pk and rows[0].username == "service"
    assert rows[0].duration_ms > 0
    assert access_log_flush() == 0  # the buffer was drained


def test_non_api_paths_are_not_logged(client):
    client.get("/health/")
    assert get_redis_connection("default").llen(BUFFER_KEY) == 0


def test_access_log_api_is_for_operators_only(api_client, operator_client):
    api_client.get("/api/v1/me/")
    access_log_flush()
    assert api_client.get("/api/v1/audit/access-log/").status_code == 403
    response = operator_client.get("/api/v1/audit/access-log/?status_code=200")
    assert response.status_code == 200
    assert response.json()["results"][0]["path"] == "/api/v1/me/"


def test_purge_deletes_only_what_is_older_than_retention():
    now = timezone.now()
    old = AccessLog.objects.create(timestamp=now - timedelta(days=100), method="GET", path="/api/x",
                                   status_code=200, duration_ms=1)
    recent = AccessLog.objects.create(timestamp=now - timedelta(days=1), method="GET", path="/api/y",
                                      status_code=200, duration_ms=1)
    group = Group.objects.create(name="g")  # any model change works as a LogEntry
    LogEntry.objects.log_create(group, action=LogEntry.Action.CREATE, changes={})
    LogEntry.objects.update(timestamp=now - timedelta(days=100))

    result = audit_purge(days=90)

    assert result["access_log"] == 1 and result["log_entries"] == 1
    assert not AccessLog.objects.filter(pk=old.pk).exists()
    assert AccessLog.objects.filter(pk=recent.pk).exists()
    with pytest.raises(ValueError):
        audit_purge(days=0)


def test_flush_schedule_is_installed():
    task = PeriodicTask.objects.get(name="audit: flush access log")
    assert task.task == "agency.audit.flush_access_log" and task.interval.every == 60


@pytest.mark.django_db(transaction=True)
def test_flush_task_runs_on_the_real_worker(api_client, celery_worker):
    from apps.audit.tasks import access_log_flush_task

    api_client.get("/api/v1/me/")
    result = access_log_flush_task.delay()
    assert result.get(timeout=30) == 1
    assert AccessLog.objects.filter(path="/api/v1/me/").count() == 1


def _through_auditlog_middleware(method: str, user, path: str = "/api/v1/agents/"):
    """Run a request through AuditlogWritesMiddleware whose view saves an audited Agent."""
    from django.test import RequestFactory

    from apps.agents.tests.factories import AgentFactory
    from apps.audit.middleware import AuditlogWritesMiddleware

    request = getattr(RequestFactory(), method.lower())(path)
    request.user = user
    created = []

    def view(req):
        from django.http import HttpResponse

        created.append(AgentFactory())
        return HttpResponse("ok")

    AuditlogWritesMiddleware(view)(request)
    return LogEntry.objects.get_for_object(created[0]).get(action=LogEntry.Action.CREATE)


def test_auditlog_middleware_attributes_writes_to_the_user(operator):
    """Change history keeps its actor for writes (POST/PUT/PATCH/DELETE) after the fast path."""
    for method in ("POST", "PATCH", "DELETE"):
        assert _through_auditlog_middleware(method, operator).actor == operator


def test_auditlog_middleware_skips_safe_methods(operator):
    """Safe methods do not get auditlog's per-request context (they write no audited rows)."""
    assert _through_auditlog_middleware("GET", operator).actor is None


def test_auditlog_middleware_skips_only_the_search_posts(operator):
    """Vector-search POSTs are reads; any other POST, even under a collection, is attributed."""
    for path in ("/api/v1/collections/docs/search/", "/api/v1/collections/docs/search/batch/"):
        assert _through_auditlog_middleware("POST", operator, path).actor is None
    for path in ("/api/v1/collections/docs/embeddings/", "/api/v1/collections/search/",
                 "/api/v1/collections/docs/search/extra/"):
        assert _through_auditlog_middleware("POST", operator, path).actor == operator


def test_access_log_line_is_pushed_when_the_response_is_closed(user):
    """The Redis push runs in response.close() (after the body is sent), not before the response."""
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.audit.middleware import AccessLogMiddleware

    request = RequestFactory().get("/api/v1/me/", HTTP_X_REQUEST_ID="req-1")
    request.user = user
    response = AccessLogMiddleware(lambda req: HttpResponse("ok", status=200))(request)
    redis = get_redis_connection("default")
    assert redis.llen(BUFFER_KEY) == 0
    request_finished.disconnect(close_old_connections)  # as the test Client does: keep the test's DB connection
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert redis.llen(BUFFER_KEY) == 1
    assert access_log_flush() == 1
    line = AccessLog.objects.get()
    assert (line.path, line.status_code, line.user_id, line.request_id) == ("/api/v1/me/", 200, user.pk, "req-1")


def test_token_api_writes_are_attributed_to_the_service(api_client, user):
    """Through the whole stack: DRF sets the token's user inside the view, after the middleware ran."""
    from apps.agents.models import Agent

    r = api_client.post("/api/v1/agents/", {"name": "attributed", "type": "worker"}, format="json")
    assert r.status_code == 201, r.json()
    entry = LogEntry.objects.get_for_object(Agent.objects.get(name="attributed")).get(action=LogEntry.Action.CREATE)
    assert entry.actor == user
    body = {"description": "changed", "version": r.json()["version"]}
    r = api_client.patch(f"/api/v1/agents/{r.json()['id']}/", body, format="json")
    assert r.status_code == 200, r.json()
    assert LogEntry.objects.filter(action=LogEntry.Action.UPDATE, actor=user).count() == 1
