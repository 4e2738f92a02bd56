"""Writes to the task queue: create, claim under a lease, heartbeat, complete, fail, cancel, retry.

Every function takes the caller's tenant (`tenant_id`, from
apps.tenants.selectors.request_tenant_id; None only for operators working across tenants) and
acts only on that tenant's tasks: another tenant's task is "does not exist" (404), never 403.

The hot path (claim, heartbeat, complete, fail, reap) is one SQL statement each, guarded in its
WHERE clause (`tenant_id = %s AND status = 'running' AND lease_owner = %s AND lease_credential
…`), so correctness never depends on a read followed by a write: two workers cannot both complete
a task, a worker whose lease was reaped cannot complete it any more, claims never hand one row to
two workers (`FOR UPDATE SKIP LOCKED`), and a lease is bound to the credential that claimed it as
well as to the `worker_id` string, so another key (of this tenant or any other) that knows or
guesses the worker's name still cannot heartbeat, complete or fail its task. They are prepared
once per connection (apps.platform.db.cursors.fetch_prepared).

These statements bypass save() signals and need no cache invalidation: they only ever match
pending or running rows, and the row cache holds settled tasks only (`Task.cacheable`), so
there is never a cached copy of a row they change. Operator actions (cancel, retry, requeue)
are rare: they lock the row, check the state machine and save(), which invalidates the cached
row on commit and leaves an auditlog entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.common.errors import Conflict, NotFound, ValidationFailed
from apps.common.validation import check_json_object
from apps.platform.cache import instances_invalidate
from apps.platform.db.cursors import fetch_prepared
from apps.tasks.models import Task, TaskStatus
from apps.tenants.quotas import quota_enforce
from apps.tenants.selectors import TENANT_HEADER

S = TaskStatus

# The state machine: status → statuses it may move to. Everything else is a 409.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.PENDING, S.CANCELLED}),
    S.FAILED: frozenset({S.PENDING}),
    S.CANCELLED: frozenset({S.PENDING}),
    S.COMPLETED: frozenset(),
}

_TABLE = Task._meta.db_table
_COLUMNS = ", ".join(f'"{f.column}"' for f in Task._meta.concrete_fields)


def assert_transition(task_id: Any, current: str, requested: str) -> None:
    if requested not in TRANSITIONS[current]:
        raise Conflict(
            f"status: task {task_id} is {current}; it cannot become {requested}",
            code="illegal_transition", details={"current": current, "requested": requested},
        )


def _check_json_object(field: str, value: Any, *, allow_none: bool = False) -> None:
    check_json_object(field, value, limit=settings.AGENCY_TASK_MAX_PAYLOAD_BYTES, allow_none=allow_none)


def _agent_tenant_id(agent_id: Any) -> int | None:
    """The tenant of agent `agent_id`, None when there is no such agent.

    Through the task's own relation: the queue never imports the agents app (agents → tasks only).
    """
    agents = Task._meta.get_field("agent").related_model._default_manager
    return agents.filter(pk=agent_id).values_list("tenant_id", flat=True).first()


def _scoped(tenant_id: int | None) -> models.QuerySet[Task]:
    """The tasks the caller may see: its tenant's, or every tenant's for an operator (None)."""
    return Task.objects.all() if tenant_id is None else Task.objects.filter(tenant_id=tenant_id)


def _not_found(task_id: Any) -> NotFound:
    """The one answer for a task that is missing and for one of another tenant (no existence leak)."""
    return NotFound(f"task {task_id} does not exist", details={"field": "id"})


def _check_worker(worker_id: Any) -> str:
    if not isinstance(worker_id, str) or not worker_id.strip() or len(worker_id) > 255:
        raise ValidationFailed("worker_id: a non-empty string of at most 255 characters is required",
                               details={"field": "worker_id"})
    return worker_id


@transaction.atomic
def task_create(
    *, tenant_id: int | None, type: str, data: dict[str, Any] | None = None, priority: int = 1,
    agent_id: Any = None, max_attempts: int | None = None, run_after: datetime | None = None,
) -> Task:
    """A pending task in the caller's tenant, or in its agent's tenant.

    A task's tenant is its agent's: an agent of another tenant answers 404 naming `agent_id`,
    exactly as an agent that does not exist (no existence leak). An operator (tenant_id None)
    creating a task for an agent gets the agent's tenant; without an agent they must name one.
    A tenant at its `max_pending_tasks` quota gets a 403 (apps.tenants.quotas).
    """
    data = {} if data is None else data
    _check_json_object("data", data)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise ValidationFailed(f"priority: must be an integer >= 0, got {priority!r}", details={"field": "priority"})
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValidationFailed(f"max_attempts: must be an integer >= 1, got {max_attempts!r}",
                               details={"field": "max_attempts"})
    if agent_id is not None:
        agent_tenant_id = _agent_tenant_id(agent_id)
        if agent_tenant_id is None or (tenant_id is not None and agent_tenant_id != tenant_id):
            raise NotFound(f"agent_id: agent {agent_id} does not exist", details={"field": "agent_id"})
        tenant_id = agent_tenant_id
    elif tenant_id is None:
        raise ValidationFailed(f"tenant: a task without an agent needs a tenant; operators name it with "
                               f"{TENANT_HEADER}", code="tenant_required", details={"header": TENANT_HEADER})
    task = Task(
        tenant_id=tenant_id, type=type, data=data, priority=priority, agent_id=agent_id,
        max_attempts=max_attempts or settings.AGENCY_TASK_DEFAULT_MAX_ATTEMPTS,
        run_after=run_after or timezone.now(),
    )
    try:
        task.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
        field, messages = next(iter(errors.items()))
        raise ValidationFailed(f"{'' if field == '__all__' else field + ': '}{messages[0]}", details=errors) from exc
    # max_pending_tasks (403); the count reads the tenant's slice of the partial index tasks_claim_idx
    quota_enforce(tenant_id=tenant_id, quota="max_pending_tasks",
                  usage=lambda: Task.objects.filter(tenant_id=tenant_id, status=S.PENDING).count())
    task.save()
    audit_record(action="task.create", target=task,
                 data={"type": type, "priority": priority, "agent_id": agent_id and str(agent_id)})
    return task


_FIELDS = Task._meta.concrete_fields
_JSON_POSITIONS = [i for i, f in enumerate(_FIELDS) if isinstance(f, models.JSONField)]


def _raw(sql: str, params: Sequence[Any] | dict[str, Any]) -> list[Task]:
    """Run a statement that RETURNs full task rows (`_COLUMNS` order) and build Task instances.

    Prepared and binary (`fetch_prepared`): these statements run for every task, and Django's
    default (client-side binding, no prepared statements, text results) measured as the largest
    share of the service's own cost. Not `Task.objects.raw()`, which re-derives the column
    mapping and converters on every call. jsonb comes back decoded in binary; text is decoded
    here too, as JSONField.from_db_value would.
    """
    tasks = []
    for row in fetch_prepared(sql, params):
        values = list(row)
        for i in _JSON_POSITIONS:
            if isinstance(values[i], str):
                values[i] = json.loads(values[i])
        tasks.append(Task.from_db(connection.alias, None, values))
    return tasks


def claim_sql(with_types: bool = False, with_agent: bool = False, with_tenant: bool = True) -> str:
    """The claim statement (public so the benchmark's raw baseline runs exactly the same SQL).

    `tenant_id = %(tenant)s` first, matching `tasks_claim_idx` (tenant_id, priority DESC,
    created_at) WHERE pending: one tenant's claim reads the head of its own slice of the index.
    Only an operator's claim across tenants leaves it out.
    """
    return f"""
        UPDATE {_TABLE}
           SET status = 'running', lease_owner = %(worker)s, lease_credential = %(credential)s,
               lease_expires_at = statement_timestamp() + make_interval(secs => %(lease)s),
               attempts = attempts + 1, started_at = statement_timestamp(), finished_at = NULL,
               version = version + 1, updated_at = statement_timestamp()
         WHERE id IN (
               SELECT id FROM {_TABLE}
                WHERE {"tenant_id = %(tenant)s AND" if with_tenant else ""}
                      status = 'pending' AND run_after <= statement_timestamp()
                {"AND type = ANY(%(types)s)" if with_types else ""}
                {"AND agent_id = %(agent)s" if with_agent else ""}
                ORDER BY priority DESC, created_at
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED)
        RETURNING {_COLUMNS}"""


def task_claim(
    *, tenant_id: int | None, credential: str, worker_id: str, types: Sequence[str] | None = None,
    limit: int = 1, lease_seconds: float | None = None, agent_id: Any = None,
) -> list[Task]:
    """Hand up to `limit` due pending tasks of the caller's tenant to `worker_id`, highest priority then oldest.

    The lease is recorded under `worker_id` and `credential` (apps.tenants.principals.credential_id):
    heartbeat, complete and fail must come with both.

    One statement: the inner SELECT … FOR UPDATE SKIP LOCKED picks rows no other claim holds (a
    concurrent claimer skips them instead of waiting or taking them too), the outer UPDATE marks
    them running under a lease and counts the attempt. Served by the partial index
    `tasks_claim_idx`.
    """
    _check_worker(worker_id)
    _check_credential(credential)
    max_claim = settings.AGENCY_TASK_MAX_CLAIM
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= max_claim:
        raise ValidationFailed(f"limit: must be an integer from 1 to {max_claim}", details={"field": "limit"})
    if types is not None and (not isinstance(types, list | tuple) or not all(isinstance(t, str) for t in types)):
        raise ValidationFailed("types: must be a list of strings", details={"field": "types"})
    params = {
        "worker": worker_id, "credential": credential, "tenant": tenant_id, "limit": limit,
        "types": list(types or []), "agent": agent_id,
        "lease": float(lease_seconds or settings.AGENCY_TASK_LEASE_SECONDS),
    }
    # One statement is atomic by itself: no BEGIN/COMMIT round trips around it (autocommit); inside
    # a caller's transaction it simply joins it. Pending rows are never cached: nothing to invalidate.
    tasks = _raw(claim_sql(bool(types), agent_id is not None, tenant_id is not None), params)
    tasks.sort(key=lambda t: (-t.priority, t.created_at))
    return tasks


def owned_update_sql(set_sql: str, with_tenant: bool = True) -> str:
    """An UPDATE that only matches a running task of %(tenant)s leased to %(worker)s under %(credential)s.

    A lease with no credential ('') is one taken before leases recorded theirs (migration
    tasks.0003): the tenant predicate is all such a lease can be held to, so it is accepted from
    the worker under any credential of the task's tenant until it ends. Every claim since records
    its credential, and every statement that ends a lease clears both columns together.
    """
    return f"""
        UPDATE {_TABLE} SET {set_sql}, version = version + 1, updated_at = statement_timestamp()
         WHERE id = %(id)s {"AND tenant_id = %(tenant)s" if with_tenant else ""}
           AND status = 'running' AND lease_owner = %(worker)s AND lease_credential IN (%(credential)s, '')
        RETURNING {_COLUMNS}"""


COMPLETE_SET = ("status = 'completed', result = %(result)s::jsonb, finished_at = statement_timestamp(),"
                " lease_owner = '', lease_credential = '', lease_expires_at = NULL")


def _check_credential(credential: Any) -> None:
    if not isinstance(credential, str) or not credential:
        raise ValueError("credential: the caller's credential id is required (apps.tenants.principals.credential_id)")


def _owned_update(task_id: Any, *, tenant_id: int | None, credential: str, worker_id: str, requested: str,
                  set_sql: str, params: dict[str, Any]) -> Task:
    """UPDATE a running task only if this worker and credential hold its lease; explain a miss as 404 or 409."""
    _check_worker(worker_id)
    _check_credential(credential)
    # Atomic by itself; it matches a running row only, which is never cached (Task.cacheable).
    rows = _raw(owned_update_sql(set_sql, tenant_id is not None),
                {**params, "id": task_id, "worker": worker_id, "credential": credential, "tenant": tenant_id})
    if rows:
        return rows[0]
    current = _scoped(tenant_id).filter(pk=task_id).values("status", "lease_owner").first()
    if current is None:
        raise _not_found(task_id)
    if current["status"] != S.RUNNING:
        if requested == "heartbeat":
            raise Conflict(f"status: task {task_id} is {current['status']}; only a running task has a lease to extend",
                           code="illegal_transition", details={"current": current["status"], "requested": "heartbeat"})
        assert_transition(task_id, current["status"], requested)
    if current["lease_owner"] == worker_id:
        raise Conflict(
            f"lease_owner: task {task_id} is leased to worker {worker_id!r} under another credential; only the "
            f"credential that claimed it may {requested if requested == 'heartbeat' else 'finish'} it",
            code="lease_not_owned", details={"worker_id": worker_id},
        )
    raise Conflict(
        f"lease_owner: task {task_id} is leased to another worker, not {worker_id!r}",
        code="lease_not_owned", details={"worker_id": worker_id},
    )


def task_heartbeat(*, tenant_id: int | None, credential: str, task_id: Any, worker_id: str,
                   lease_seconds: float | None = None) -> Task:
    """Extend the lease of a task the caller holds (409 when it does not hold it)."""
    return _owned_update(
        task_id, tenant_id=tenant_id, credential=credential, worker_id=worker_id, requested="heartbeat",
        set_sql="lease_expires_at = statement_timestamp() + make_interval(secs => %(lease)s)",
        params={"lease": float(lease_seconds or settings.AGENCY_TASK_LEASE_SECONDS)},
    )


def task_complete(*, tenant_id: int | None, credential: str, task_id: Any, worker_id: str,
                  result: dict[str, Any] | None = None) -> Task:
    """Store the result and finish the task; only the lease holder (worker and credential) may."""
    result = {} if result is None else result
    _check_json_object("result", result)
    return _owned_update(task_id, tenant_id=tenant_id, credential=credential, worker_id=worker_id,
                         requested=S.COMPLETED, set_sql=COMPLETE_SET, params={"result": json.dumps(result)})


def task_fail(*, tenant_id: int | None, credential: str, task_id: Any, worker_id: str, error: str,
              retryable: bool = True) -> Task:
    """Record the error; re-queue with exponential backoff while attempts remain, else mark failed.

    The backoff is computed in SQL from the row's own `attempts`, so the decision and the write
    are one statement. `retryable=False` (the worker knows retrying is pointless) fails at once.
    """
    if not isinstance(error, str):
        raise ValidationFailed("error: must be a string", details={"field": "error"})
    retry = "(attempts < max_attempts AND %(retryable)s)"
    return _owned_update(
        task_id, tenant_id=tenant_id, credential=credential, worker_id=worker_id, requested=S.FAILED,
        set_sql=f"""error = %(error)s, lease_owner = '', lease_credential = '', lease_expires_at = NULL,
            status = CASE WHEN {retry} THEN 'pending' ELSE 'failed' END,
            run_after = CASE WHEN {retry}
                THEN statement_timestamp()
                     + make_interval(secs => least(%(base)s * power(2, greatest(attempts - 1, 0)), %(cap)s))
                ELSE run_after END,
            finished_at = CASE WHEN {retry} THEN NULL ELSE statement_timestamp() END""",
        params={"error": error[:10_000], "retryable": retryable,
                "base": settings.AGENCY_TASK_BACKOFF_BASE_SECONDS, "cap": settings.AGENCY_TASK_BACKOFF_MAX_SECONDS},
    )


def _transition(task_id: Any, tenant_id: int | None, requested: str, mutate: Callable[[Task], list[str]],
                *, verb: str) -> Task:
    with transaction.atomic():
        task = _scoped(tenant_id).select_for_update().filter(pk=task_id).first()
        if task is None:
            raise _not_found(task_id)
        assert_transition(task_id, task.status, requested)
        previous = task.status
        fields = mutate(task)
        task.status = requested
        task.version += 1
        task.save(update_fields=[*fields, "status", "version", "updated_at"])
        audit_record(action=f"task.{verb}", target=task, data={"from": previous, "to": requested})
    return task


def task_cancel(*, tenant_id: int | None, task_id: Any) -> Task:
    """Cancel a pending or running task; a running worker's later complete/fail gets 409."""
    def mutate(task: Task) -> list[str]:
        task.lease_owner, task.lease_credential, task.lease_expires_at = "", "", None
        task.finished_at = timezone.now()
        return ["lease_owner", "lease_credential", "lease_expires_at", "finished_at"]

    return _transition(task_id, tenant_id, S.CANCELLED, mutate, verb="cancel")


def task_retry(*, tenant_id: int | None, task_id: Any) -> Task:
    """Give a failed or cancelled task a fresh start: pending now, attempts back to zero."""
    task = _scoped(tenant_id).filter(pk=task_id).values("status").first()
    if task is not None and task["status"] not in (S.FAILED, S.CANCELLED):
        raise Conflict(
            f"status: task {task_id} is {task['status']}; only failed or cancelled tasks can be retried",
            code="illegal_transition", details={"current": task["status"], "requested": S.PENDING},
        )

    def mutate(task: Task) -> list[str]:
        if task.status not in (S.FAILED, S.CANCELLED):  # changed between the check and the lock
            assert_transition(task_id, task.status, "retry")
        task.attempts, task.run_after, task.finished_at, task.started_at = 0, timezone.now(), None, None
        task.result, task.lease_owner, task.lease_credential, task.lease_expires_at = None, "", "", None
        return ["attempts", "run_after", "finished_at", "started_at", "result", "lease_owner", "lease_credential",
                "lease_expires_at"]

    return _transition(task_id, tenant_id, S.PENDING, mutate, verb="retry")


def task_requeue(*, tenant_id: int | None, task_id: Any) -> Task:
    """Take a running task away from its worker and put it back in the queue now (stuck worker).

    The attempt it used still counts; the old lease holder's complete/fail will be refused.
    """
    task = _scoped(tenant_id).filter(pk=task_id).values("status").first()
    if task is not None and task["status"] != S.RUNNING:
        raise Conflict(
            f"status: task {task_id} is {task['status']}; only running tasks can be requeued",
            code="illegal_transition", details={"current": task["status"], "requested": "requeue"},
        )

    def mutate(task: Task) -> list[str]:
        if task.status != S.RUNNING:
            assert_transition(task_id, task.status, "requeue")
        task.lease_owner, task.lease_credential, task.lease_expires_at = "", "", None
        task.run_after = timezone.now()
        return ["lease_owner", "lease_credential", "lease_expires_at", "run_after"]

    return _transition(task_id, tenant_id, S.PENDING, mutate, verb="requeue")


def task_cache_invalidate_for_agent(*, tenant_id: int, agent_id: Any) -> None:
    """Drop the cached rows of an agent's tasks (on commit), before the agent is deleted.

    Deleting an agent sets its tasks' `agent_id` to NULL in one bulk UPDATE (`on_delete=SET_NULL`)
    that sends no signals, so the cached (settled) copies would keep the old agent id.
    """
    pks = Task.objects.filter(tenant_id=tenant_id, agent_id=agent_id).values_list("pk", flat=True)
    instances_invalidate(Task, list(pks))


_REAP_SQL = f"""
    UPDATE {_TABLE}
       SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
           error = 'lease of ' || lease_owner || ' expired at ' || lease_expires_at::text,
           finished_at = CASE WHEN attempts >= max_attempts THEN statement_timestamp() ELSE NULL END,
           lease_owner = '', lease_credential = '', lease_expires_at = NULL, run_after = statement_timestamp(),
           version = version + 1, updated_at = statement_timestamp()
     WHERE id IN (SELECT id FROM {_TABLE}
                   WHERE status = 'running' AND lease_expires_at < statement_timestamp()
                   ORDER BY lease_expires_at
                   LIMIT %s
                   FOR UPDATE SKIP LOCKED)
    RETURNING id, status"""


def task_reap_expired_leases(*, batch_size: int = 1000) -> dict[str, int]:
    """Return tasks whose lease expired to pending (or failed when their attempts are used up).

    Idempotent: a second run finds no expired running task and changes nothing. A task whose
    worker crashed on every attempt ends failed instead of looping forever. SKIP LOCKED: a row
    being completed right now is left to its worker. Running rows are never cached, so there is
    nothing to invalidate.
    """
    requeued = failed = 0
    while True:
        with connection.cursor() as cur:
            cur.execute(_REAP_SQL, [batch_size])
            rows = cur.fetchall()
        requeued += sum(1 for r in rows if r[1] == S.PENDING)
        failed += sum(1 for r in rows if r[1] == S.FAILED)
        if len(rows) < batch_size:
            if requeued or failed:  # one entry per run that changed something, across tenants
                audit_record(action="task.reap_leases", target_type=Task._meta.label_lower, tenant_id=None,
                             data={"requeued": requeued, "failed": failed})
            return {"requeued": requeued, "failed": failed}
