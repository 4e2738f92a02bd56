"""The prepared, binary cursor used by the task queue's hot statements (apps/platform/db/cursors.py)."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from apps.platform.db.cursors import fetch_prepared
from apps.tasks.models import Task
from apps.tasks.tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

_SQL = "SELECT id, data, created_at FROM tasks_task WHERE id = %(id)s"


def _prepared() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cur.fetchall()]


def test_statements_are_prepared_once_and_return_typed_values():
    task = TaskFactory(data={"a": [1, 2]})
    for _ in range(3):
        [(pk, data, created)] = fetch_prepared(_SQL, {"id": task.pk})
    assert (pk, data, created) == (task.pk, {"a": [1, 2]}, task.created_at)  # uuid, decoded jsonb, aware datetime
    assert created.tzinfo is not None
    assert sum("FROM tasks_task WHERE id = $1" in s for s in _prepared()) == 1


def test_prepared_statements_can_be_switched_off(settings):
    settings.AGENCY_DB_PREPARED_STATEMENTS = False
    task = TaskFactory()
    sql = _SQL + " AND version >= 0"
    assert fetch_prepared(sql, {"id": task.pk})[0][0] == task.pk
    assert not any("version >= 0" in s for s in _prepared())


def test_it_joins_the_orm_transaction_and_raises_django_errors():
    task = TaskFactory()
    with pytest.raises(IntegrityError), transaction.atomic():  # a django.db error, not a psycopg one
        fetch_prepared("UPDATE tasks_task SET priority = -1 WHERE id = %(id)s RETURNING id", {"id": task.pk})
    task.refresh_from_db()
    assert task.priority >= 0
    with transaction.atomic():
        fetch_prepared("UPDATE tasks_task SET priority = 7 WHERE id = %(id)s RETURNING id", {"id": task.pk})
        assert Task.objects.get(pk=task.pk).priority == 7  # the ORM sees it in the same transaction
    assert fetch_prepared(_SQL, {"id": uuid.uuid4()}) == []


def test_the_cursor_is_reused_and_a_nested_one_is_separate():
    from apps.platform.db.cursors import hot_cursor

    with hot_cursor() as first:
        first.execute("SELECT 1")
        with hot_cursor() as nested:
            assert nested is not first
            nested.execute("SELECT 2")
            assert nested.fetchone() == (2,)
        assert first.fetchone() == (1,)  # the nested statement did not clobber this result
    with hot_cursor() as again:
        assert again in (first, nested)
        again.execute("SELECT 3")
        assert again.fetchone() == (3,)


@pytest.mark.django_db(transaction=True)  # closes the connection: not inside a test transaction
def test_a_new_connection_gets_a_new_cursor_and_vector_adapters_reach_it():
    import numpy as np

    from apps.platform.db.cursors import hot_cursor
    from apps.platform.db.vectors import vector_cursor

    with hot_cursor() as before:
        before.execute("SELECT 1")
    connection.close()
    with hot_cursor() as plain:  # made on the new connection, before pgvector's adapters
        assert plain is not before and plain.connection is connection.connection
    with vector_cursor() as cur:  # registering the adapters drops the kept cursor
        cur.execute("SELECT %s::vector::text", [np.array([1.5, 2.0], dtype=np.float32)])
        assert cur.fetchone() == ("[1.5,2]",)
