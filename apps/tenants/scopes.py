"""The scopes an API key may carry, and their validation.

A module of its own (no model, no DRF) so that the permission class, the models and the
services share one list, and a domain app can name a scope without importing the models.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models

from apps.common.errors import ValidationFailed


class Scope(models.TextChoices):
    AGENTS_READ = "agents:read", "agents: read"
    AGENTS_WRITE = "agents:write", "agents: write"
    TASKS_READ = "tasks:read", "tasks: read"
    TASKS_WRITE = "tasks:write", "tasks: write"
    TASKS_WORK = "tasks:work", "tasks: work (claim, heartbeat, complete, fail)"
    MEMORY_READ = "memory:read", "memory: read"
    MEMORY_WRITE = "memory:write", "memory: write"
    TENANT_ADMIN = "tenant:admin", "tenant: admin (the tenant's keys and data)"


ALL_SCOPES: frozenset[str] = frozenset(Scope.values)
# `tenant:admin` may mint keys with any scope of its tenant, so it holds them all already; saying
# so here keeps a key from looking more restricted than it is.
IMPLIES_ALL = Scope.TENANT_ADMIN.value


def scopes_clean(scopes: Iterable[str] | str) -> list[str]:
    """The scopes, checked (each known, at least one) and de-duplicated, in a stable order.

    Accepts a comma-separated string too (the command line's `--scopes a,b`).
    """
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    items = [s.strip() for s in scopes if s and s.strip()]
    unknown = sorted({s for s in items if s not in ALL_SCOPES})
    if unknown:
        raise ValidationFailed(
            f"scopes: unknown scope {', '.join(repr(s) for s in unknown)}; known: {', '.join(Scope.values)}",
            code="unknown_scope", details={"scopes": unknown},
        )
    if not items:
        raise ValidationFailed("scopes: give at least one scope", code="invalid", details={"scopes": []})
    return [s for s in Scope.values if s in set(items)]


def scope_granted(granted: Iterable[str], needed: str) -> bool:
    """Whether a key holding `granted` may do what needs `needed`."""
    granted = frozenset(granted)
    return needed in granted or IMPLIES_ALL in granted
