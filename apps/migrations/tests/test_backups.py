"""Backups: a real pg_dump, checksum-guarded restore, verification against the dump's manifest."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.migrations.models import Backup, RunStatus
from apps.migrations.services import postgres
from apps.migrations.services.backups import backup_create, backup_retention_apply, backup_verify
from apps.migrations.tests.conftest import VECTOR_TABLE, counts_and_vectors

pytestmark = pytest.mark.django_db(transaction=True)


def test_pg_dump_matches_the_server_major_version():
    binary = postgres.pg_binary("pg_dump")
    assert binary.is_file()
    major = postgres.server_version_num() // 10000
    assert f" {major}." in postgres.binary_version(binary)


def test_backup_command_writes_a_checksummed_file_with_a_manifest(vector_table, capsys):
    call_command("backup")
    backup = Backup.objects.get()
    path = Path(backup.file_path)
    assert backup.status == RunStatus.SUCCEEDED and backup.kind == Backup.Kind.MANUAL
    assert path.is_file() and path.stat().st_size == backup.size_bytes
    assert hashlib.sha256(path.read_bytes()).hexdigest() == backup.sha256
    assert backup.manifest["tables"][VECTOR_TABLE]["rows"] == 300
    assert set(backup.manifest["vectors"][f"{VECTOR_TABLE}.vector"]) == {"0", "1", "2"}
    assert "sha256" in capsys.readouterr().out
    call_command("backups")
    assert str(backup.pk) in capsys.readouterr().out


def test_backup_delete_rows_restore_gives_identical_counts_and_vector_checksums(vector_table):
    get_user_model().objects.create_user(username="kept", password="x")
    before_counts, before_vectors = counts_and_vectors()
    vector_oid = _vector_oid()
    backup = backup_create(kind="manual")
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE collection_id = 1")
        conn.execute(f"UPDATE {VECTOR_TABLE} SET vector = '[0,0,0]' WHERE collection_id = 2")
    get_user_model().objects.all().delete()
    assert counts_and_vectors()[0][VECTOR_TABLE] == 200

    from apps.platform.cache import cache_get, cache_set

    cache_set("restore:probe", "describes the old database")
    assert cache_get("restore:probe") == "describes the old database"  # in L1 and Redis

    call_command("restore", str(backup.pk), "--force")

    assert cache_get("restore:probe") is None  # dropped from Redis and from this process's L1
    assert _vector_oid() == vector_oid  # the extension was kept: other processes' connections stay valid
    after_counts, after_vectors = counts_and_vectors()
    assert after_vectors == before_vectors
    for table in (VECTOR_TABLE, "auth_user", "django_migrations"):
        assert after_counts[table] == before_counts[table]
    assert get_user_model().objects.filter(username="kept").exists()
    backup.refresh_from_db()  # the catalogue survived the restore, completed
    assert backup.status == RunStatus.SUCCEEDED and backup.sha256


def _vector_oid() -> int:
    with postgres.autocommit_connection() as conn:
        return conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]


def test_restore_into_a_new_database_and_verify(vector_table):
    backup = backup_create(kind="manual")
    name = "agency_test_restore_into"
    postgres.database_drop(name)
    try:
        call_command("restore", str(backup.pk), "--into", name)
        assert counts_and_vectors(name)[1] == counts_and_vectors()[1]
        with pytest.raises(CommandError, match="exists; pass --force"):
            call_command("restore", str(backup.pk), "--into", name)
    finally:
        postgres.database_drop(name)
    verified = backup_verify(backup_id=backup.pk)
    assert verified.verification_ok is True and verified.verified_at
    assert verified.verification["tables"][VECTOR_TABLE]["restored_rows"] == 300
    assert all(v["checksum_ok"] for v in verified.verification["vectors"].values())
    assert not postgres.database_exists(verified.verification["scratch_database"])
    call_command("verify_backup", str(backup.pk))


def test_verification_detects_a_dump_that_does_not_match_its_manifest(vector_table):
    backup = backup_create(kind="manual")
    manifest = backup.manifest
    manifest["vectors"][f"{VECTOR_TABLE}.vector"]["1"]["md5"] = "0" * 32
    Backup.objects.filter(pk=backup.pk).update(manifest=manifest)
    verified = backup_verify(backup_id=backup.pk)
    assert verified.verification_ok is False
    assert verified.verification["mismatches"] == [f"vectors {VECTOR_TABLE}.vector collection 1"]
    with pytest.raises(CommandError, match="does NOT restore"):
        call_command("verify_backup", str(backup.pk))


def test_unknown_backup_id_is_a_clear_error_and_changes_nothing(vector_table):
    before = counts_and_vectors()
    for command in ("restore", "verify_backup"):
        with pytest.raises(CommandError, match="backup '00000000-0000-0000-0000-000000000000' does not exist"):
            call_command(command, "00000000-0000-0000-0000-000000000000", "--force"
                         ) if command == "restore" else call_command(command, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="backup 'nope' does not exist"):
        call_command("restore", "nope")
    assert counts_and_vectors() == before


def test_checksum_mismatch_refuses_to_restore_and_changes_nothing(vector_table):
    backup = backup_create(kind="manual")
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DELETE FROM {VECTOR_TABLE} WHERE collection_id = 0")
    before = counts_and_vectors()
    path = Path(backup.file_path)
    with open(path, "r+b") as fh:  # flip one byte in the middle of the dump
        fh.seek(path.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CommandError, match="corrupt or was replaced: sha256"):
        call_command("restore", str(backup.pk), "--force")
    with pytest.raises(CommandError, match="sha256 .* does not match"):
        call_command("verify_backup", str(backup.pk))
    assert counts_and_vectors() == before
    backup.refresh_from_db()
    assert backup.verified_at is None


def test_restore_over_the_live_database_needs_force(vector_table):
    backup = backup_create(kind="manual")
    with postgres.autocommit_connection() as conn:
        conn.execute(f"DELETE FROM {VECTOR_TABLE}")
    before = counts_and_vectors()
    with pytest.raises(CommandError, match="refusing to restore over the live database .* without --force"):
        call_command("restore", str(backup.pk))
    assert counts_and_vectors() == before
    assert before[0][VECTOR_TABLE] == 0


def test_retention_keeps_the_newest_daily_and_weekly_files(settings):
    settings.AGENCY_BACKUP_KEEP_DAILY = 1
    settings.AGENCY_BACKUP_KEEP_WEEKLY = 1
    daily = [backup_create(kind="daily", apply_retention=False) for _ in range(3)]
    weekly = backup_create(kind="weekly", apply_retention=False)
    manual = backup_create(kind="manual")  # applies the retention
    for b in daily + [weekly, manual]:
        b.refresh_from_db()
    assert [b.expired_at is not None for b in daily] == [True, True, False]
    assert [Path(b.file_path).exists() for b in daily] == [False, False, True]
    assert weekly.expired_at is None and manual.expired_at is None
    assert backup_retention_apply() == []
    with pytest.raises(CommandError, match="expired"):
        call_command("restore", str(daily[0].pk), "--into", "agency_never_created")
    assert not postgres.database_exists("agency_never_created")


def test_a_failed_dump_is_recorded_and_leaves_no_file(settings, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    real = postgres.pg_binary("pg_dump")
    script = fake / "pg_dump"
    script.write_text(f"#!/bin/sh\nif [ \"$1\" = --version ]; then exec {real} --version; fi\n"
                      "echo 'pg_dump: error: disk full' >&2\nexit 1\n")
    script.chmod(0o755)
    shutil.copy(postgres.pg_binary("pg_restore"), fake / "pg_restore")
    settings.AGENCY_PG_BIN_DIR = str(fake)
    backup = backup_create(kind="manual")
    assert backup.status == RunStatus.FAILED and "disk full" in backup.error
    assert list(Path(settings.AGENCY_BACKUP_DIR).iterdir()) == []


def test_a_running_backup_makes_the_next_one_skip():
    from apps.migrations.services.guard import BACKUP_LOCK
    from apps.platform.cache import distributed_lock

    with distributed_lock(BACKUP_LOCK, timeout=30):
        skipped = backup_create(kind="daily")
        with pytest.raises(CommandError, match="skipped: lock held"):
            call_command("backup")
    assert skipped.status == RunStatus.SKIPPED and skipped.error == "skipped: lock held" and not skipped.file_path
    assert backup_create(kind="daily").status == RunStatus.SUCCEEDED


def test_every_table_of_vectors_per_collection_is_checksummed(vector_table):
    """Whatever the embeddings app's table looks like, each vector column next to a collection_id counts."""
    with postgres.autocommit_connection() as conn:
        expected = {f"{t}.{c}" for t, c in conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "WHERE c.table_schema = 'public' AND c.udt_name IN ('vector', 'halfvec', 'sparsevec') AND EXISTS ("
            " SELECT 1 FROM information_schema.columns k WHERE k.table_schema = 'public'"
            " AND k.table_name = c.table_name AND k.column_name = 'collection_id')")}
    backup = backup_create(kind="manual")
    assert f"{VECTOR_TABLE}.vector" in expected
    assert set(backup.manifest["vectors"]) == expected



def test_deleting_a_backup_in_the_admin_removes_its_file(admin_client):
    backup = backup_create(kind="manual")
    response = admin_client.post(f"/admin/schema/backup/{backup.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Backup.objects.filter(pk=backup.pk).exists() and not Path(backup.file_path).exists()
