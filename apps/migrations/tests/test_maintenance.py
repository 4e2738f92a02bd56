"""Maintenance: statements really run (autocommit), bloated vector indexes are rebuilt, overlap skips."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.common.errors import ValidationFailed
from apps.migrations.models import MaintenanceRun, RunStatus
from apps.migrations.services import postgres
from apps.migrations.services.guard import MAINTENANCE_LOCK
from apps.migrations.services.maintenance import maintenance_run
from apps.migrations.services.retention import retention_purge
from apps.migrations.tests.conftest import VECTOR_TABLE
from apps.platform.cache import distributed_lock

pytestmark = pytest.mark.django_db(transaction=True)


def _last_vacuum(table: str):
    with postgres.autocommit_connection() as conn:
        return conn.execute("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = %s",
                            [table]).fetchone()


def test_vacuum_analyze_runs_and_the_report_is_recorded(vector_table):
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE id % 2 = 0")
    run = maintenance_run(analyze=True, vacuum=True, reindex=False, tables=[VECTOR_TABLE])
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 1 and run.duration_seconds is not None
    done = {(a["action"], a["target"]) for a in run.report["actions"]}
    assert ("VACUUM (ANALYZE)", VECTOR_TABLE) in done
    assert all(a["executed"] for a in run.report["actions"])
    last_vacuum, last_analyze = _last_vacuum(VECTOR_TABLE)
    assert last_vacuum is not None and last_analyze is not None
    table = next(t for t in run.report["tables"] if t["table"] == VECTOR_TABLE)
    assert table["live_rows"] == 150 and table["total_bytes"] > 0
    assert any(i["index"] == f"{VECTOR_TABLE}_hnsw" and i["method"] == "hnsw" for i in run.report["indexes"])
    assert MaintenanceRun.objects.get(pk=run.pk).report["actions"]


def test_a_bloated_vector_index_is_rebuilt_concurrently(vector_table, settings):
    with postgres.autocommit_connection() as conn:
        conn.execute(f"INSERT INTO {VECTOR_TABLE} (collection_id, vector) "
                     "SELECT 1, ARRAY[random(), random(), random()]::vector FROM generate_series(1, 3000)")
        conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE id > 100")
        size_before = conn.execute("SELECT pg_relation_size(%s::regclass)", [f"{VECTOR_TABLE}_hnsw"]).fetchone()[0]
    settings.AGENCY_REINDEX_MIN_BYTES = 0
    dry = maintenance_run(analyze=True, vacuum=False, reindex=True, dry_run=True, tables=[VECTOR_TABLE])
    assert ("REINDEX INDEX CONCURRENTLY", f"{VECTOR_TABLE}_hnsw") in {(a["action"], a["target"])
                                                                       for a in dry.report["actions"]}
    assert not any(a["executed"] for a in dry.report["actions"])
    run = maintenance_run(analyze=True, vacuum=False, reindex=True, tables=[VECTOR_TABLE])
    before = next(v for v in run.report["vector_indexes_before"] if v["table"] == VECTOR_TABLE)
    assert before["reindex_due"] and before["bloat_ratio"] >= settings.AGENCY_REINDEX_BLOAT_RATIO
    after = next(v for v in run.report["vector_indexes"] if v["table"] == VECTOR_TABLE)
    assert after["bytes"] < size_before
    assert ("REINDEX INDEX CONCURRENTLY", f"{VECTOR_TABLE}_hnsw", True) in {
        (a["action"], a["target"], a["executed"]) for a in run.report["actions"]}


def test_dry_run_changes_nothing(vector_table):
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE id % 2 = 0")
    call_command("maintain", "--vacuum", "--dry-run", "--table", VECTOR_TABLE)
    run = MaintenanceRun.objects.get()
    assert run.dry_run and run.report["actions"] and not any(a["executed"] for a in run.report["actions"])
    assert _last_vacuum(VECTOR_TABLE)[0] is None


def test_a_running_maintenance_makes_the_next_one_skip():
    with distributed_lock(MAINTENANCE_LOCK, timeout=30):
        run = maintenance_run()
        with pytest.raises(CommandError, match="skipped: lock held"):
            call_command("maintain")
    assert run.status == RunStatus.SKIPPED and run.error == "skipped: lock held"
    assert MaintenanceRun.objects.filter(status=RunStatus.SKIPPED).count() == 2
    assert maintenance_run().status == RunStatus.SUCCEEDED  # the lock was released


def test_unknown_table_is_named_and_nothing_is_recorded():
    with pytest.raises(ValidationFailed, match=r"tables\[1\]: no table named 'nope'"):
        maintenance_run(tables=["auth_user", "nope"])
    with pytest.raises(CommandError, match="no table named 'nope'"):
        call_command("maintain", "--table", "nope")
    assert not MaintenanceRun.objects.exists()


def test_retention_purge_deletes_only_old_records():
    from datetime import timedelta

    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    old, new = maintenance_run(dry_run=True), maintenance_run(dry_run=True)
    MaintenanceRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    ct = ContentType.objects.get_for_model(MaintenanceRun)
    entry = LogEntry.objects.create(content_type=ct, object_pk="1", object_repr="x", action=0)
    LogEntry.objects.filter(pk=entry.pk).update(timestamp=timezone.now() - timedelta(days=91))
    LogEntry.objects.create(content_type=ct, object_pk="2", object_repr="y", action=0)
    result = retention_purge()
    assert result["days"] == 90 and result["maintenance_runs"] == 1 and result["auditlog_entries"] == 1
    assert list(MaintenanceRun.objects.values_list("pk", flat=True)) == [new.pk]
    assert LogEntry.objects.count() == 1
