"""Who is acting now: the one place every audit entry gets its actor from.

In a request the actor is the request's credential: an API key (its id, prefix and tenant) or a
user. The middleware (`AuditlogWritesMiddleware`) puts the request in a context variable for the
request's duration, and the actor is read from `request.user` when an entry is written, not when
the middleware runs, because DRF authenticates inside the view (and sets the Django request's
`user` then). Outside a request the actor is the system, named as precisely as it can be: an
explicit `acting_as(...)` block, else the running Celery task (`system:celery:<task name>`), else
the management command (`system:manage.py <command>`), else `system`.

A context variable rather than a thread-local: it follows the request through ASGI's thread hops
and does not leak from one request to the next on a reused worker thread.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import current_task

from apps.audit.models import ActorKind
from apps.tenants.principals import ApiKeyPrincipal

_request: ContextVar[Any] = ContextVar("agency_audit_request", default=None)
_named: ContextVar[str | None] = ContextVar("agency_audit_actor", default=None)


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller behind a write, as the audit trail records it."""

    kind: str  # ActorKind
    label: str  # api-key:<prefix> | user:<username> | system[:<what>]
    key_id: str | None = None
    user_id: int | None = None
    tenant_id: int | None = None  # the credential's own tenant (an API key's); None for users and the system
    remote_addr: str | None = None
    request_id: str = ""


@contextmanager
def request_acting(request: Any) -> Iterator[None]:
    """Make `request`'s credential the actor of every write inside the block (the middleware's job)."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


@contextmanager
def acting_as(what: str) -> Iterator[None]:
    """Name the system actor of the writes inside the block (`system:<what>`), outside any request."""
    token = _named.set(what)
    try:
        yield
    finally:
        _named.reset(token)


def current_actor() -> Actor:
    """The actor of a write made now (see the module docstring for the order of the sources)."""
    request = _request.get()
    if request is not None:
        return _request_actor(request)
    named = _named.get()
    if named:
        return Actor(kind=ActorKind.SYSTEM, label=f"system:{named}"[:200])
    task = current_task
    if task and getattr(task, "name", None):
        return Actor(kind=ActorKind.SYSTEM, label=f"system:celery:{task.name}"[:200])
    if len(sys.argv) > 1 and Path(sys.argv[0]).name in ("manage.py", "django-admin"):
        return Actor(kind=ActorKind.SYSTEM, label=f"system:manage.py {sys.argv[1]}"[:200])
    return Actor(kind=ActorKind.SYSTEM, label="system")


def _request_actor(request: Any) -> Actor:
    where = {"remote_addr": request.META.get("REMOTE_ADDR") or None,
             "request_id": request.headers.get("X-Request-ID", "")[:64]}
    user = getattr(request, "user", None)
    if isinstance(user, ApiKeyPrincipal):
        return Actor(kind=ActorKind.KEY, label=user.username, key_id=user.key_id, tenant_id=user.tenant_id, **where)
    if user is not None and user.is_authenticated:
        return Actor(kind=ActorKind.USER, label=f"user:{user.get_username()}"[:200], user_id=user.pk, **where)
    return Actor(kind=ActorKind.SYSTEM, label="system:anonymous-request", **where)
