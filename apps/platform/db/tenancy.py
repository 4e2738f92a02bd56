"""Row-level security's side of the connection: which tenant the database lets this code see.

The tables of agents, tasks, collections and embeddings carry PostgreSQL policies (the RLS
migrations of those apps) keyed on the setting `agency.tenant_id`:

* a tenant's id: only that tenant's rows are visible, and only its rows may be written;
* `*`: every tenant (operators, maintenance, the worker's housekeeping);
* unset or empty: nothing at all. A connection that nobody scoped sees zero rows.

The policies bite because the application connects as a role that neither owns those tables nor
is a superuser (`AGENCY_DB_OWNER_ROLE` owns them; migrations, index builds, VACUUM and backups
switch to it with `as_owner()`, and the owner is not subject to the policies).

Which scope a statement runs under is decided here, once, for every path: Django's cursors (an
execute wrapper installed on every connection) and the project's hot psycopg cursors
(`sync_scope`, called by `apps.platform.db.cursors.hot_cursor`). The scope comes from, in order:

1. an explicit `tenant_scope(tenant_id)` / `all_tenants()` block (Celery tasks acting for a
   tenant, services that must act for one);
2. the current web request, resolved from its credential by the resolver the tenants app
   registers (`set_request_resolver`): an API key's tenant, the tenant an operator names, `*` for
   an operator naming none, nothing before authentication or for the anonymous;
3. otherwise the process default `*`: management commands, the shell, Celery's housekeeping and
   the test suite's own fixtures are trusted code that works across tenants.

How the setting reaches PostgreSQL (`AGENCY_DB_TENANT_SETTING`):

* `session` (default, direct connections): `set_config(…, false)` when the connection's value
  differs from the wanted one, remembered per connection, so a run of requests for the same
  tenant on one connection pays nothing; inside a transaction the value is set transaction-local
  instead, because a session-level change would be undone by a rollback behind our back.
* `transaction` (behind PgBouncer in transaction mode, where a session setting could reach
  another client): only ever transaction-local. A statement outside any transaction is run in one
  of its own (BEGIN, set_config, the statement, COMMIT: three more round trips).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from psycopg import pq
from psycopg import sql as psycopg_sql

SETTING = "agency.tenant_id"
ALL = "*"
NONE = ""

_explicit: contextvars.ContextVar[str | None] = contextvars.ContextVar("agency_db_scope", default=None)
_request: contextvars.ContextVar[Any] = contextvars.ContextVar("agency_db_request", default=None)
_resolver: list[Callable[[Any], str]] = []
_STATE = "_agency_scope_state"
_RESOLVING = "_agency_scope_resolving"
_SET_SQL = "SELECT set_config('agency.tenant_id', %s, %s)"


def set_request_resolver(resolver: Callable[[Any], str]) -> None:
    """Register the function that turns a request into its scope (the tenants app, at ready())."""
    _resolver[:] = [resolver]


def scope_value(tenant_id: int | None) -> str:
    """The setting's value for a tenant id; None means every tenant."""
    return ALL if tenant_id is None else str(int(tenant_id))


@contextmanager
def tenant_scope(tenant_id: int | None) -> Iterator[None]:
    """Run the block's statements as tenant `tenant_id` (None: every tenant)."""
    token = _explicit.set(scope_value(tenant_id))
    try:
        yield
    finally:
        _explicit.reset(token)


def all_tenants() -> AbstractContextManager[None]:
    """Run the block's statements across tenants (operator and maintenance work)."""
    return tenant_scope(None)


@contextmanager
def request_scope(request: Any) -> Iterator[None]:
    """Scope the statements made while `request` is served by its credential (the middleware's)."""
    token = _request.set(request)
    outer = _explicit.set(None)  # a request never inherits a scope from the code around it
    try:
        yield
    finally:
        _explicit.reset(outer)
        _request.reset(token)


def current_scope() -> str:
    """The scope the next statement of this thread/task will run under."""
    explicit = _explicit.get()
    if explicit is not None:
        return explicit
    request = _request.get()
    if request is None:
        return ALL
    memo = request.__dict__.get(_STATE)
    if memo is not None and memo[0] is request.__dict__.get("user"):
        return memo[1]
    if request.__dict__.get(_RESOLVING) or not _resolver:
        return NONE  # the resolver's own lookups (keys, tenants, sessions) need no tenant rows
    request.__dict__[_RESOLVING] = True
    try:
        value = _resolver[0](request)
    finally:
        request.__dict__.pop(_RESOLVING, None)
    user = request.__dict__.get("user")
    if user is not None and not is_unevaluated(user):
        request.__dict__[_STATE] = (user, value)
    return value


def is_unevaluated(user: Any) -> bool:
    wrapped = getattr(user, "_wrapped", None)
    return wrapped is not None and type(wrapped).__name__ == "object"  # django.utils.functional.empty


# ---- applying it to a connection ----------------------------------------------------------------
class _ConnState:
    """What this connection's session has, and the transaction-local value of its open transaction."""

    __slots__ = ("session", "local", "owner")

    def __init__(self) -> None:
        self.session = NONE  # a new session has no setting
        self.local: str | None = None
        self.owner = 0  # depth of as_owner() blocks


def _state(wrapper: Any) -> _ConnState:
    state = wrapper.__dict__.get(_STATE)
    if state is None or state[0] is not wrapper.connection:
        state = (wrapper.connection, _ConnState())
        wrapper.__dict__[_STATE] = state
    return state[1]


def _transaction_mode() -> bool:
    return settings.AGENCY_DB_TENANT_SETTING == "transaction"


def sync_scope(wrapper: Any) -> bool:
    """Make the connection's setting the current scope before a statement; False if it must be wrapped.

    Returns False only in transaction mode outside any transaction, where the caller has to run
    the statement inside a transaction of its own (see `_execute_wrapper`).
    """
    state = _state(wrapper)
    if state.owner:
        return True
    wanted = current_scope()
    raw = wrapper.connection
    idle = raw.info.transaction_status == pq.TransactionStatus.IDLE
    if idle:
        state.local = None
    effective = state.local if state.local is not None else state.session
    if effective == wanted:
        return True
    if idle and raw.autocommit:
        if _transaction_mode():
            return False
        raw.execute(_SET_SQL, [wanted, False], prepare=False)
        state.session = wanted
        return True
    # Inside a transaction (or at its first statement: psycopg sends BEGIN before this one).
    raw.execute(_SET_SQL, [wanted, True], prepare=False)
    state.local = wanted
    return True


def _execute_wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    wrapper = context["connection"]
    if sync_scope(wrapper):
        return execute(sql, params, many, context)
    with transaction.atomic(using=wrapper.alias):
        sync_scope(wrapper)
        return execute(sql, params, many, context)


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Install the scope on every new Django connection (the `connection_created` receiver)."""
    if connection.vendor != "postgresql":
        return
    if _execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_execute_wrapper)
    if _owner_everywhere:
        _state(connection).owner += 1
        _set_role(connection, owner_role())


# ---- the owner -------------------------------------------------------------------------------
_owner_everywhere: list[bool] = []


def owner_role() -> str:
    """The role that owns the tables (migrations, DDL, VACUUM, backups run as it); '' = the login role."""
    return settings.AGENCY_DB_OWNER_ROLE


def _set_role(wrapper: Any, role: str) -> None:
    if not role:
        return
    with wrapper.cursor() as cur:
        cur.execute("SELECT set_config('role', %s, false)", [role])


@contextmanager
def as_owner(using: str = "default") -> Iterator[None]:
    """Run the block as the tables' owner on Django's connection (DDL, index builds, upkeep).

    `SET ROLE` to the owner, which the login role is allowed to do but does not inherit the
    privileges of: so RLS, which exempts the owner, bites everywhere else.
    """
    role = owner_role()
    wrapper = connections[using]
    wrapper.ensure_connection()
    state = _state(wrapper)
    state.owner += 1
    if state.owner == 1:
        _set_role(wrapper, role)
    try:
        yield
    finally:
        state.owner -= 1
        usable = wrapper.connection is not None and (
            wrapper.connection.info.transaction_status != pq.TransactionStatus.INERROR)
        if state.owner == 0 and role and usable:
            with wrapper.cursor() as cur:
                cur.execute("RESET role")


@contextmanager
def owner_everywhere() -> Iterator[None]:
    """Every connection opened (and the open default one) runs as the owner: `migrate`, test-DB setup."""
    if _owner_everywhere:  # nested (test-DB creation runs `migrate`): the outermost block does the work
        yield
        return
    _owner_everywhere.append(True)
    for wrapper in connections.all(initialized_only=True):
        if wrapper.connection is not None:
            _state(wrapper).owner += 1
            _set_role(wrapper, owner_role())
    try:
        yield
    finally:
        _owner_everywhere.pop()
        for wrapper in connections.all(initialized_only=True):
            if wrapper.connection is None:
                continue
            state = _state(wrapper)
            if state.owner:
                state.owner = 0
                if owner_role() and wrapper.connection.info.transaction_status == pq.TransactionStatus.IDLE:
                    with wrapper.cursor() as cur:
                        cur.execute("RESET role")


def owner_options() -> str:
    """libpq `options` that start a fresh session as the owner (psycopg connects, pg_dump's PGOPTIONS)."""
    role = owner_role()
    return f"-c role={role}" if role else ""


def grant_login_role(using: str = "default") -> None:
    """Grant the login role the rights the application needs on every table and sequence (idempotent).

    Run after `migrate`, as the owner: tables the migrations made belong to the owner, and
    default privileges cover what the owner makes later (e.g. a restore).
    """
    role = owner_role()
    wrapper = connections[using]
    if not role or wrapper.vendor != "postgresql":
        return
    with wrapper.cursor() as cur:
        cur.execute("SELECT session_user, current_user")
        login, current = cur.fetchone()
        if login == role or current != role:
            return
        who = psycopg_sql.Identifier(login).as_string(wrapper.connection)
        owner = psycopg_sql.Identifier(role).as_string(wrapper.connection)
        for statement in (
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {who}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {who}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {who}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {who}",
        ):
            cur.execute(statement)

