"""A prepared, binary cursor on Django's own connection, for the few statements that run thousands of times.

Django's psycopg backend binds parameters on the client and disables prepared statements (for
the sake of transaction-pooling PgBouncer), so every call ships the SQL text and PostgreSQL
parses and plans it again; and it reads results as text, decoding timestamps in Python. For the
task queue's claim/complete statements that was most of the service's cost over a bare psycopg
loop (measured in bench/tasks.py). `hot_cursor()` runs such statements server-side bound and
prepared once per connection, with binary results, on the same connection and transaction as
the ORM, with Django's error wrapping and django-prometheus's query counters.

Set AGENCY_DB_PREPARED_STATEMENTS=false behind a pooler that cannot keep prepared statements
(PgBouncer in transaction mode before 1.21): the statements are then still server-bound and
binary, only not prepared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django_prometheus.db.common import ExportingCursorWrapper
from psycopg.pq import Format

from apps.platform.db import tenancy

_cursor_classes: dict[str, type[psycopg.Cursor]] = {}
# psycopg prepares a statement implicitly once it has run this many times; out of reach, so only
# statements executed with prepare=True are prepared (a generic plan is not right for every query).
_ONLY_EXPLICIT = 2**31 - 1


def prepared_statements(conn: psycopg.Connection) -> bool:
    """Whether to pass prepare=True on this psycopg connection (and make psycopg honour it).

    Django connects with prepare_threshold=None, with which psycopg ignores even an explicit
    prepare=True. The ORM's client-side-bound cursors never prepare, so this only affects the
    server-bound cursors of this project (the task queue's statements, vector searches).
    """
    if not settings.AGENCY_DB_PREPARED_STATEMENTS:
        return False
    if conn.prepare_threshold is None:
        conn.prepare_threshold = _ONLY_EXPLICIT
    return True


def _cursor_class(alias: str, vendor: str) -> type[psycopg.Cursor]:
    found = _cursor_classes.get(alias)
    if found is None:
        found = _cursor_classes[alias] = ExportingCursorWrapper(psycopg.Cursor, alias, vendor)
    return found


class hot_cursor:  # noqa: N801 (used like the function it replaced: `with hot_cursor() as cur`)
    """A psycopg cursor (server-side binding, binary rows) on Django's connection `using`.

    It joins whatever transaction Django has open on that connection; errors surface as
    django.db exceptions, as they do from `connection.cursor()`. The cursor is kept on Django's
    connection wrapper (one per thread) and handed out again, a nested `hot_cursor` getting one of
    its own: making and closing one took ~15 us, a tenth of a selective vector search.

    It skips Django's per-request health check (CONN_HEALTH_CHECKS: a `SELECT 1` round trip
    before the first cursor of each request), as Django does with the setting off: a connection
    that died since its last use fails its next statement, and Django closes it at the end of
    that request, so the next one reconnects.
    """

    __slots__ = ("using", "_wrapper", "_cur", "_errors", "_own_transaction")

    def __init__(self, using: str = "default", *, wrapper: Any = None) -> None:
        self.using = using
        self._wrapper = wrapper  # Django's connection wrapper, when the caller has it at hand
        self._own_transaction = False

    def __enter__(self) -> psycopg.Cursor:
        wrapper = self._wrapper or connections[self.using]
        wrapper.ensure_connection()
        wrapper.validate_no_broken_transaction()
        cur = wrapper.__dict__.pop(_IDLE, None)  # taken, so a nested hot_cursor cannot get the same one
        if cur is None or cur.closed or cur.connection is not wrapper.connection:
            cur = _cursor_class(self.using, wrapper.vendor)(wrapper.connection)
            cur.format = Format.BINARY
        self._wrapper, self._cur = wrapper, cur
        self._errors = wrapper.wrap_database_errors
        self._errors.__enter__()
        # The tenant the row-level-security policies let these statements see (apps/platform/db/tenancy.py);
        # with the setting transaction-local only (PgBouncer), outside a transaction the block gets its own.
        if not tenancy.sync_scope(wrapper):
            cur.execute("BEGIN")
            self._own_transaction = True
            tenancy.sync_scope(wrapper)
        return cur

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        setattr(self._wrapper, _IDLE, self._cur)
        if self._own_transaction:
            self._own_transaction = False
            self._cur.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        self._errors.__exit__(exc_type, exc, tb)  # re-raises a database error as django.db's


_IDLE = "_agency_idle_hot_cursor"


def forget_idle_cursor(wrapper: Any) -> None:
    """Drop the kept cursor (after registering adapters on the connection: a cursor copies them when made)."""
    wrapper.__dict__.pop(_IDLE, None)


def fetch_prepared(sql: str, params: Sequence[Any] | Mapping[str, Any], using: str = "default") -> list[tuple]:
    """Execute one hot statement that returns rows (a SELECT, or a write with RETURNING) and fetch them.

    No check of `cursor.description`: building it costs more than the rest of the Python side.
    """
    with hot_cursor(using) as cur:
        cur.execute(sql, params, prepare=prepared_statements(cur.connection))
        return cur.fetchall()
