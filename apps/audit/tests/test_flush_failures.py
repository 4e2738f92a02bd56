"""The access-log flush loses nothing when the database refuses its insert, and writes each line once."""

import json

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone
from django_redis import get_redis_connection

from apps.audit.models import AccessLog
from apps.audit.services import BUFFER_KEY, access_log_buffer, access_log_flush
from apps.platform.db.tenancy import as_owner

pytestmark = pytest.mark.django_db

PROCESSING = f"{BUFFER_KEY}:processing"


@pytest.fixture(autouse=True)
def empty_buffer():
    redis = get_redis_connection("default")
    redis.delete(BUFFER_KEY, PROCESSING)
    yield redis
    redis.delete(BUFFER_KEY, PROCESSING)


def _line(i: int) -> dict:
    return {"timestamp": timezone.now().isoformat(), "method": "GET", "path": f"/api/v1/line/{i}/",
            "status_code": 200, "duration_ms": 1.5 + i, "username": "", "key_prefix": "", "error_code": "",
            "remote_addr": "127.0.0.1", "request_id": f"r{i}"}


def _refuse_inserts(on: bool) -> None:
    """A real refusal by PostgreSQL: a trigger that raises on every insert into the access log (DDL as owner)."""
    with as_owner(), connection.cursor() as cur:
        if on:
            cur.execute("CREATE FUNCTION refuse_access_log() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
            cur.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON {AccessLog._meta.db_table} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_access_log()")
        else:
            cur.execute(f"DROP TRIGGER refuse ON {AccessLog._meta.db_table}")
            cur.execute("DROP FUNCTION refuse_access_log()")


def test_a_flush_whose_insert_fails_keeps_the_lines_and_the_next_one_writes_them_once(empty_buffer):
    for i in range(30):
        access_log_buffer(_line(i))
    _refuse_inserts(True)
    with pytest.raises(DatabaseError, match="refused by the test"):
        access_log_flush(batch_size=20)
    assert AccessLog.objects.count() == 0
    # The failed batch of 20 waits in the processing list, the other 10 in the buffer: all 30 are in Redis.
    assert (empty_buffer.llen(PROCESSING), empty_buffer.llen(BUFFER_KEY)) == (20, 10)

    access_log_buffer(_line(30))  # the request path keeps pushing meanwhile
    _refuse_inserts(False)
    assert access_log_flush(batch_size=20) == 31
    paths = list(AccessLog.objects.order_by("path").values_list("path", flat=True))
    assert paths == sorted(f"/api/v1/line/{i}/" for i in range(31))  # each exactly once
    assert (empty_buffer.llen(PROCESSING), empty_buffer.llen(BUFFER_KEY)) == (0, 0)
    assert access_log_flush() == 0


def test_a_batch_committed_but_not_deleted_is_not_written_twice(empty_buffer):
    lines = [json.dumps(_line(i)) for i in range(5)]
    empty_buffer.rpush(BUFFER_KEY, *lines)
    assert access_log_flush() == 5
    # As if the flusher had died between its commit and its delete: the batch is back in processing,
    # with one line that was not committed.
    empty_buffer.rpush(PROCESSING, *lines, json.dumps(_line(5)))
    assert access_log_flush() == 1
    assert AccessLog.objects.count() == 6
    assert AccessLog.objects.filter(path="/api/v1/line/5/").count() == 1


def test_a_second_flusher_waits_its_turn(empty_buffer):
    access_log_buffer(_line(0))
    lock = empty_buffer.lock(f"{BUFFER_KEY}:flush-lock", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert access_log_flush() == 0  # another flush is running: this one touches nothing
        assert empty_buffer.llen(BUFFER_KEY) == 1
    finally:
        lock.release()
    assert access_log_flush() == 1
