"""Database settings for one statement (apps/platform/db/settings.py): planner settings in force for their
statement only, never after; scan settings left on the session, sent only when they change."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import DataError, connection, transaction
from django.db.models.expressions import RawSQL

from apps.platform.db.cursors import hot_cursor
from apps.platform.db.settings import SCAN_SETTINGS, execute_with_settings, forget_session_values, set_local

_SHOW = "SELECT current_setting('enable_sort'), current_setting('work_mem')"
_WANTED = {"enable_sort": "off", "work_mem": "7MB"}
_SHOW_EF = "SELECT current_setting('hnsw.ef_search', true), current_setting('enable_sort')"


@pytest.fixture
def ef_search_reset(transactional_db):
    """A test that SETs hnsw.ef_search for the session: put the server's value back afterwards."""
    yield
    with hot_cursor() as cur:
        cur.execute("RESET hnsw.ef_search")
        forget_session_values(cur.connection)


def _now(cur) -> tuple[str, str]:
    cur.execute(_SHOW)
    return cur.fetchone()


@pytest.mark.django_db(transaction=True)  # autocommit, as a request outside an atomic block
@pytest.mark.parametrize("prepare", [False, True])
def test_outside_a_transaction_they_hold_for_the_statement_only(prepare):
    with hot_cursor() as cur:
        before = _now(cur)
        assert before[0] == "on" and before[1] != "7MB"
        execute_with_settings(cur, _SHOW, [], values=_WANTED, prepare=prepare)
        assert cur.fetchone() == ("off", "7MB")
        assert _now(cur) == before  # ended with the statement's (implicit) transaction
        cur.execute("SELECT current_setting('enable_sort')")  # psycopg's own state: still usable
        assert cur.fetchone() == ("on",)


@pytest.mark.django_db(transaction=True)
def test_values_the_session_already_has_send_no_extra_statement(monkeypatch):
    with hot_cursor() as cur:
        forget_session_values(cur.connection)
        entered = []
        pipeline = cur.connection.pipeline
        monkeypatch.setattr(cur.connection, "pipeline", lambda: entered.append(1) or pipeline())
        execute_with_settings(cur, _SHOW, [], values={"enable_sort": "on"})
        assert cur.fetchone()[0] == "on" and entered == []  # the session's value: the statement alone
        execute_with_settings(cur, _SHOW, [], values={"enable_sort": "off"})
        assert cur.fetchone()[0] == "off" and entered == [1]  # a different one: pipelined with it


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_they_last_until_it_ends():
    with hot_cursor() as cur:
        before = _now(cur)
        with transaction.atomic():
            execute_with_settings(cur, _SHOW, [], values=_WANTED)
            assert cur.fetchone() == ("off", "7MB")
            assert _now(cur) == ("off", "7MB")  # the caller's transaction is the one that needed them
        assert _now(cur) == before
        with pytest.raises(RuntimeError), transaction.atomic():
            execute_with_settings(cur, _SHOW, [], values=_WANTED)
            raise RuntimeError("rolled back")
        assert _now(cur) == before


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_an_earlier_local_value_is_overridden():
    """The session's values say nothing inside a transaction: an earlier SET LOCAL may be in force."""
    with hot_cursor() as cur, transaction.atomic():
        set_local(cur, {"enable_sort": "off"})
        execute_with_settings(cur, _SHOW, [], values={"enable_sort": "on"})
        assert cur.fetchone()[0] == "on"


@pytest.mark.django_db  # inside the test's transaction
def test_a_failing_statement_raises_a_django_error_and_leaves_nothing_set():
    with pytest.raises(DataError), hot_cursor() as cur, transaction.atomic():
        execute_with_settings(cur, "SELECT 1 / 0", [], values=_WANTED)
    with connection.cursor() as cur:
        cur.execute(_SHOW)
        assert cur.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_outside_a_transaction_leaves_the_connection_usable():
    with pytest.raises(DataError), hot_cursor() as cur:
        execute_with_settings(cur, "SELECT 1 / 0", [], values=_WANTED)
    with hot_cursor() as cur:
        assert _now(cur)[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_scan_settings_stay_on_the_session_and_planner_settings_never_do(ef_search_reset, monkeypatch):
    """pgvector's settings are read only by vector index scans, each of which sets them all: they stay
    (one SET per change). enable_sort changes any query's plan: the ORM's next query runs with it on."""
    assert "hnsw.ef_search" in SCAN_SETTINGS and "enable_sort" not in SCAN_SETTINGS
    values = {"hnsw.ef_search": "77", "enable_sort": "off"}
    with hot_cursor() as cur:
        forget_session_values(cur.connection)
        execute_with_settings(cur, _SHOW_EF, [], values=values)
        assert cur.fetchone() == ("77", "off")
        cur.execute(_SHOW_EF)
        assert cur.fetchone() == ("77", "on")
    user = get_user_model().objects.create(username="after-a-search")
    seen = get_user_model().objects.filter(pk=user.pk).annotate(
        sort=RawSQL("current_setting('enable_sort')", ())).values_list("sort", flat=True)
    assert list(seen) == ["on"]  # the ORM's next query: enable_sort on, as the session has it
    with hot_cursor() as cur:
        sent = []
        execute = cur.execute
        monkeypatch.setattr(cur, "execute", lambda sql, *a, **kw: sent.append(sql) or execute(sql, *a, **kw))
        execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "77", "enable_sort": "on"})
        assert sent == [_SHOW_EF] and cur.fetchone() == ("77", "on")  # nothing changed: the statement alone
        execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "78", "enable_sort": "on"})
        assert len(sent) == 3 and cur.fetchone() == ("78", "on")  # a changed scan setting: one SET first


@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_keeps_the_scan_settings_it_was_sent_with(ef_search_reset):
    """Scan settings are committed before the statement, so a failure cannot undo them behind the memo."""
    with hot_cursor() as cur:
        forget_session_values(cur.connection)
    with pytest.raises(DataError), hot_cursor() as cur:
        execute_with_settings(cur, "SELECT 1 / 0", [], values={"hnsw.ef_search": "55", "enable_sort": "off"})
    with hot_cursor() as cur:
        assert _now(cur)[0] == "on"
        cur.execute(_SHOW_EF)
        assert cur.fetchone() == ("55", "on")
        execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "40"})
        assert cur.fetchone() == ("40", "on")


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_scan_settings_are_local_too(ef_search_reset):
    """A session SET inside a transaction would be undone by its rollback, unseen by the memo."""
    with hot_cursor() as cur:
        forget_session_values(cur.connection)
        execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "41"})
        with pytest.raises(RuntimeError), transaction.atomic():
            execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "66"})
            assert cur.fetchone()[0] == "66"
            raise RuntimeError("rolled back")
        cur.execute(_SHOW_EF)
        assert cur.fetchone()[0] == "41"
        execute_with_settings(cur, _SHOW_EF, [], values={"hnsw.ef_search": "41"})
        assert cur.fetchone()[0] == "41"
