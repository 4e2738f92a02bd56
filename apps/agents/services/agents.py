"""Writes to agents. Every update is guarded by the row's `version` (optimistic concurrency).

Why optimistic and not a row lock: agents are edited rarely and by different services that read,
think, then write; holding a lock across that gap is impossible over HTTP. So the caller names
the version it read and the write is a single conditional UPDATE; a stale version changes
nothing and answers 409 with the current version.

Every write takes the caller's tenant (`tenant_id`, from apps.tenants.selectors.request_tenant_id;
None only for an operator across tenants): it creates in that tenant and changes only that
tenant's agents, and another tenant's agent is "does not exist" (404), with nothing written. An
agent never changes tenant.
"""

from __future__ import annotations

from typing import Any

from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.agents.models import Agent
from apps.agents.services.status import agent_status_publish
from apps.audit.services import audit_record
from apps.common.errors import Conflict, NotFound, ValidationFailed
from apps.common.validation import check_json_object, full_clean
from apps.platform.cache import instances_invalidate
from apps.tasks.selectors import task_active_count
from apps.tasks.services import task_cache_invalidate_for_agent

UPDATABLE_FIELDS = ("name", "type", "capabilities", "status")


def _check_capabilities(capabilities: Any) -> None:
    check_json_object("capabilities", capabilities, limit=settings.AGENCY_AGENT_MAX_CAPABILITIES_BYTES)


@transaction.atomic
def agent_create(
    *, tenant_id: int, name: str, type: str, capabilities: dict[str, Any] | None = None, status: str = "active",
) -> Agent:
    capabilities = {} if capabilities is None else capabilities
    _check_capabilities(capabilities)
    agent = Agent(tenant_id=tenant_id, name=name, type=type, capabilities=capabilities, status=status)
    full_clean(agent)
    try:
        with transaction.atomic():  # savepoint: a concurrent create of the same name loses cleanly
            agent.save()
    except IntegrityError as exc:
        raise _name_taken(name) from exc
    audit_record(action="agent.create", target=agent, data={"name": name, "type": type, "status": status})
    return agent


def _name_taken(name: str) -> Conflict:
    return Conflict(f"name: an agent named {name!r} already exists in this tenant", details={"field": "name"})


def _scoped(tenant_id: int | None) -> QuerySet[Agent]:
    return Agent.objects.all() if tenant_id is None else Agent.objects.filter(tenant_id=tenant_id)


def _not_found(agent_id: Any) -> NotFound:
    """The one answer for a missing agent and for another tenant's (no existence leak)."""
    return NotFound(f"agent {agent_id} does not exist", details={"field": "id"})


def parse_if_match(header: str | None) -> int | None:
    """The version inside an If-Match value such as `W/"3"` or `"3"`; None when absent."""
    if not header:
        return None
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    if not value.isdigit():
        raise ValidationFailed(f'If-Match: expected an ETag like W/"3", got {header!r}', details={"field": "If-Match"})
    return int(value)


@transaction.atomic
def agent_update(*, agent_id: Any, tenant_id: int | None, expected_version: int, **changes: Any) -> Agent:
    """Apply `changes` only if the row is still at `expected_version`; bump the version.

    The write is one `UPDATE … WHERE id = %s AND version = %s`, so two writers that read the same
    version cannot both win: the second one matches zero rows and gets 409 with the current
    version, and nothing of it is written. An auditlog entry records the diff (the UPDATE does not
    go through save(), so we log it ourselves).
    """
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"{field}: this field cannot be updated", details={"field": field})
    old = _scoped(tenant_id).filter(pk=agent_id).first()
    if old is None:
        raise _not_found(agent_id)
    if "capabilities" in changes:
        _check_capabilities(changes["capabilities"])
    new = Agent(**{f.attname: getattr(old, f.attname) for f in Agent._meta.concrete_fields})
    new._state.adding = False  # an existing row: uniqueness checks must exclude itself
    for key, value in changes.items():
        setattr(new, key, value)
    full_clean(new)
    now = timezone.now()
    try:
        with transaction.atomic():
            updated = Agent.objects.filter(pk=agent_id, tenant_id=old.tenant_id, version=expected_version).update(
                **changes, version=F("version") + 1, updated_at=now
            )
    except IntegrityError as exc:
        raise _name_taken(new.name) from exc
    if updated == 0:
        current = Agent.objects.filter(pk=agent_id, tenant_id=old.tenant_id).values_list("version", flat=True).first()
        if current is None:
            raise _not_found(agent_id)
        raise Conflict(
            f"version: agent {agent_id} is at version {current}, the update was based on version {expected_version}",
            code="stale_version", details={"current_version": current},
        )
    new.version = expected_version + 1
    new.updated_at = now
    instances_invalidate(Agent, [agent_id])
    if old.status != new.status:
        agent_status_publish(new.id, old.status, new.status, tenant_id=new.tenant_id)  # on commit, never raises
    changes_diff = model_instance_diff(old, new)
    if changes_diff:
        LogEntry.objects.log_create(new, action=LogEntry.Action.UPDATE, changes=changes_diff)
    audit_record(action="agent.update", target=new, data={"changes": changes_diff or {}, "version": new.version})
    return new


@transaction.atomic
def agent_delete(*, agent_id: Any, tenant_id: int | None) -> None:
    """Hard delete, refused (409) while the agent still has pending or running tasks.

    Why hard and not soft: "retired but kept" is already expressed by `status=inactive`, which
    keeps the row visible and filterable; a soft-delete flag would be a second, overlapping
    state that every query must remember to exclude. Nothing is lost by deleting: the agent's
    finished tasks keep their history (the FK is SET NULL) and auditlog keeps the deleted row's
    last state in its DELETE entry.
    """
    agent = _scoped(tenant_id).select_for_update().filter(pk=agent_id).first()
    if agent is None:
        raise _not_found(agent_id)
    active = task_active_count(tenant_id=agent.tenant_id, agent_id=agent_id)
    if active:
        raise Conflict(
            f"agent {agent_id} still has {active} pending or running task(s); cancel them or set status=inactive",
            details={"active_tasks": active},
        )
    # SET NULL is one bulk UPDATE that sends no signals: drop the agent's cached (settled) tasks too.
    task_cache_invalidate_for_agent(tenant_id=agent.tenant_id, agent_id=agent_id)
    audit_record(action="agent.delete", target=agent, data={"name": agent.name})
    agent.delete()
