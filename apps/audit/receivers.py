"""Audit entries for tenants and API keys, and the actor on django-auditlog's entries; wired in AuditConfig.ready().

Tenants and keys are audited from django-auditlog's `post_log` signal rather than by calls in the
tenants app's services: the audit API is scoped through the tenants app (`request_tenant_id`,
`HasScopes`), so the tenants app cannot import the audit app back (no cycles between apps). Every
write of a tenant or key row goes through save() (services, commands, the admin, the key
library's admin form), which django-auditlog observes with the diff already computed, so each
one becomes an entry here, inside the write's transaction. `last_used_at` is written with
update() and excluded from auditlog: it leaves no entry, as it should not.

django-auditlog's `LogEntry.actor` is a user foreign key, so a write by an API key had no actor
there; each LogEntry now gets the actor's label (and a key's id and tenant) in `additional_data`.
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry

from apps.audit.context import current_actor
from apps.audit.models import ActorKind
from apps.audit.services import audit_record

QUOTA_FIELDS = frozenset({"max_collections", "max_embeddings", "max_pending_tasks", "request_rate"})
_VERBS = {LogEntry.Action.CREATE: "create", LogEntry.Action.UPDATE: "update", LogEntry.Action.DELETE: "delete"}
# The key's id (prefix.hash) says nothing a reader needs and the hash is excluded from auditlog already.
_KEY_HIDDEN = frozenset({"id", "hashed_key"})


def log_entry_stamp_actor(sender: Any, instance: LogEntry, **kwargs: Any) -> None:
    """pre_save of LogEntry: record who acted (django-auditlog only knows users) in `additional_data`."""
    if instance.pk is not None:
        return
    actor = current_actor()
    stamp: dict[str, Any] = {"actor": actor.label}
    if actor.kind == ActorKind.KEY:
        stamp.update(actor_key_id=actor.key_id, tenant_id=actor.tenant_id)
    instance.additional_data = {**(instance.additional_data or {}), **stamp}


def tenant_audited(sender: Any, instance: Any, action: int, changes: dict | None = None,
                   log_created: bool = False, **kwargs: Any) -> None:
    """post_log of Tenant: create, activate/deactivate, quota changes, other updates, delete."""
    if not log_created or action not in _VERBS:
        return
    changes = changes or {}
    verb = _VERBS[action]
    if verb == "update":
        if "active" in changes:
            verb = "activate" if instance.active else "deactivate"
        elif QUOTA_FIELDS & set(changes):
            verb = "quota_change"
    audit_record(action=f"tenant.{verb}", target=instance, target_id=instance.pk, tenant_id=instance.pk,
                 data={"changes": changes})


def api_key_audited(sender: Any, instance: Any, action: int, changes: dict | None = None,
                    log_created: bool = False, **kwargs: Any) -> None:
    """post_log of ApiKey: create, rotate (a create with a predecessor), revoke, other updates, delete.

    Never the key's text: it is not stored anywhere, and its hash is kept out of the entry too.
    """
    if not log_created or action not in _VERBS:
        return
    changes = {k: v for k, v in (changes or {}).items() if k not in _KEY_HIDDEN}
    if "rotated_from" in changes:  # another key's id (prefix.hash): its prefix says which
        changes["rotated_from"] = [_prefix(v) for v in changes["rotated_from"]]
    verb = _VERBS[action]
    data: dict[str, Any] = {"changes": changes}
    if verb == "create" and instance.rotated_from_id:
        verb = "rotate"
        data["rotated_from"] = _prefix(instance.rotated_from_id)
    elif verb == "update" and "revoked" in changes and instance.revoked:
        verb = "revoke"
    audit_record(action=f"api_key.{verb}", target=instance, target_id=instance.prefix, tenant_id=instance.tenant_id,
                 data=data)


def _prefix(key_id: Any) -> Any:
    """The public prefix of a key id (`prefix.hash`); None (auditlog's "None" too) stays as it is."""
    return key_id.partition(".")[0] if isinstance(key_id, str) and "." in key_id else key_id
