"""Backups: `pg_dump -Fc` with a manifest, checksum-guarded restore, verification, retention.

The manifest (row count and md5 per table, md5 of the vectors per collection) is computed inside
the very snapshot pg_dump dumps (`pg_export_snapshot()` + `pg_dump --snapshot`), so a verification
compares the restored copy with exactly what was dumped, even on a database that keeps changing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.common.errors import Conflict, ValidationFailed
from apps.migrations.models import Backup, RunStatus
from apps.migrations.selectors import backup_get
from apps.migrations.services import postgres
from apps.migrations.services.guard import BACKUP_LOCK, SKIPPED_LOCK_HELD, LockNotAcquired, exclusive
from apps.migrations.services.records import run_finish, run_skip, run_start
from apps.platform.cache import cache_invalidate_pattern

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def _no_progress(done: int, total: int, message: str) -> None:
    return None


def backup_dir() -> Path:
    path = Path(settings.AGENCY_BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def backup_kind_for_today() -> str:
    """The scheduled backup is weekly on AGENCY_BACKUP_WEEKLY_DAY, daily otherwise."""
    today = timezone.now().isoweekday()
    return Backup.Kind.WEEKLY if today == settings.AGENCY_BACKUP_WEEKLY_DAY else Backup.Kind.DAILY


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# create


def backup_request(*, kind: str = Backup.Kind.MANUAL, requested_by: Any = None, actor: str = "") -> Backup:
    """A pending backup record, for callers that enqueue the work (API, admin)."""
    if kind not in Backup.Kind.values:
        raise ValidationFailed(f"kind: must be one of {', '.join(Backup.Kind.values)}, not {kind!r}")
    backup = Backup(kind=kind, requested_by=requested_by, actor=actor or getattr(requested_by, "username", ""))
    backup.full_clean()
    backup.save()
    return backup


def backup_create(
    *, kind: str = Backup.Kind.MANUAL, backup_id: Any = None, requested_by: Any = None, actor: str = "",
    progress: Progress | None = None, apply_retention: bool = True,
) -> Backup:
    """Dump the live database to a new file, record it, then apply the retention policy.

    With `backup_id` it completes that pending record and is idempotent: a finished backup is
    returned as is. If another backup holds the lock, the record ends `skipped: lock held`.
    """
    progress = progress or _no_progress
    if backup_id is not None:
        backup = backup_get(backup_id=backup_id)
        if backup.is_finished:
            return backup
    else:
        if kind == "auto":
            kind = backup_kind_for_today()
        backup = backup_request(kind=kind, requested_by=requested_by, actor=actor)
    try:
        with exclusive(BACKUP_LOCK):
            _dump(backup, progress)
    except LockNotAcquired:
        run_skip(backup, reason=SKIPPED_LOCK_HELD)
        return backup
    if apply_retention and backup.status == RunStatus.SUCCEEDED:
        backup_retention_apply()
    return backup


def _dump(backup: Backup, progress: Progress) -> None:
    run_start(backup)
    info = postgres.ConnInfo.current()
    started = timezone.now()
    target = backup_dir() / f"{info.dbname}-{started:%Y%m%dT%H%M%SZ}-{backup.kind}-{backup.id.hex[:8]}.dump"
    partial = target.with_name(target.name + ".partial")
    try:
        pg_dump = postgres.pg_binary("pg_dump")
        with psycopg.connect(info.dsn()) as snap:
            snap.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            snap.read_only = True
            snapshot_id = snap.execute("SELECT pg_export_snapshot()").fetchone()[0]
            manifest = postgres.manifest(snap)
            total = len(manifest["tables"])
            progress(0, total, f"dumping {total} tables of {info.dbname} with {pg_dump}")
            postgres.run_client(
                [str(pg_dump), "-Fc", "-v", f"--snapshot={snapshot_id}", "-f", str(partial), info.dbname],
                env=info.env(), total=total, marker="dumping contents of table", progress=progress,
            )
            backup.server_version = snap.execute("SHOW server_version").fetchone()[0]
            snap.rollback()
        os.replace(partial, target)
        backup.file_path = str(target)
        backup.size_bytes = target.stat().st_size
        backup.sha256 = file_sha256(target)
        backup.database = info.dbname
        backup.pg_dump_version = postgres.binary_version(pg_dump)
        backup.manifest = manifest
    except Exception as exc:  # noqa: BLE001 - recorded on the run, which is the point of the record
        partial.unlink(missing_ok=True)
        logger.exception("backup %s failed", backup.pk)
        run_finish(backup, status=RunStatus.FAILED, error=str(getattr(exc, "message", exc)))
        return
    run_finish(backup, status=RunStatus.SUCCEEDED, fields=(
        "file_path", "size_bytes", "sha256", "database", "server_version", "pg_dump_version", "manifest"))


def backup_retention_apply(*, keep_daily: int | None = None, keep_weekly: int | None = None) -> list[str]:
    """Remove the files of daily/weekly backups beyond the newest N/M (manual ones are kept)."""
    keep = {
        Backup.Kind.DAILY: settings.AGENCY_BACKUP_KEEP_DAILY if keep_daily is None else keep_daily,
        Backup.Kind.WEEKLY: settings.AGENCY_BACKUP_KEEP_WEEKLY if keep_weekly is None else keep_weekly,
    }
    expired: list[str] = []
    for kind, n in keep.items():
        stale = Backup.objects.filter(kind=kind, status=RunStatus.SUCCEEDED, expired_at__isnull=True).order_by(
            "-created_at")[max(n, 0):]
        for backup in list(stale):
            if backup.file_path:
                Path(backup.file_path).unlink(missing_ok=True)
            backup.expired_at = timezone.now()
            backup.save(update_fields=["expired_at", "updated_at"])
            expired.append(str(backup.pk))
    return expired


# --------------------------------------------------------------------------------------------
# restore and verify


def backup_check_file(backup: Backup) -> Path:
    """The backup's file, after proving it is the file that was written (sha256)."""
    if backup.status != RunStatus.SUCCEEDED:
        raise ValidationFailed(f"backup {backup.pk} is {backup.status}, not a completed backup",
                               code="backup_not_completed")
    if backup.expired_at:
        raise ValidationFailed(f"backup {backup.pk} expired on {backup.expired_at:%Y-%m-%d}; its file was removed",
                               code="backup_expired")
    path = Path(backup.file_path)
    if not path.is_file():
        raise ValidationFailed(f"backup file {path} is missing", code="backup_file_missing")
    actual = file_sha256(path)
    if actual != backup.sha256:
        raise ValidationFailed(
            f"backup file {path} is corrupt or was replaced: sha256 {actual} does not match the recorded "
            f"{backup.sha256}; nothing was restored", code="checksum_mismatch",
            details={"expected": backup.sha256, "actual": actual, "file": str(path)},
        )
    return path


def backup_restore(
    *, backup_id: Any, into: str | None = None, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Restore a backup into `into` (created, or replaced with `force`) or over the live database.

    Over the live database it needs `force`; the catalogue of backups is carried over the restore
    so that the restored database still knows every file on disk.
    """
    progress = progress or _no_progress
    backup = backup_get(backup_id=backup_id)
    path = backup_check_file(backup)
    info = postgres.ConnInfo.current()
    target = into or info.dbname
    live = target == info.dbname
    if live and not force:
        raise Conflict(f"refusing to restore over the live database {target!r} without --force",
                       code="live_database")
    if live and connection.in_atomic_block:
        raise Conflict("the live database cannot be restored from inside a transaction", code="in_transaction")
    if not live and postgres.database_exists(target):
        if not force:
            raise Conflict(f"database {target!r} exists; pass --force to replace it", code="database_exists")
        postgres.database_drop(target)
    pg_restore = postgres.pg_binary("pg_restore")
    total = len(backup.manifest.get("tables", {}))
    started = timezone.now()
    args = [str(pg_restore), "-v", "--no-owner", "--exit-on-error", "-d", target, str(path)]
    if live:
        catalogue = list(Backup.objects.all())
        connection.close()
        args[1:1] = ["--clean", "--if-exists", "--single-transaction"]
        try:
            with exclusive(BACKUP_LOCK), tempfile.TemporaryDirectory(prefix="agency-restore-") as tmp:
                args[1:1] = ["-L", str(_toc_without_installed_extensions(pg_restore, path, info, Path(tmp)))]
                postgres.run_client(args, env=info.env(), total=total, marker="processing data for table", progress=progress)
        except LockNotAcquired:
            raise Conflict("a backup is running; restore after it finishes", code="backup_running") from None
        _catalogue_restore(catalogue)
        # Cached rows describe the old database: drop them in Redis and in every process's L1.
        cache_invalidate_pattern("*", allow_all=True, on_commit=False)
    else:
        postgres.database_create(target)
        try:
            # A new database comes with template1's extensions (their owner may not be ours: skip them).
            with tempfile.TemporaryDirectory(prefix="agency-restore-") as tmp:
                toc = _toc_without_installed_extensions(pg_restore, path, info.using(target), Path(tmp))
                postgres.run_client([*args[:1], "-L", str(toc), *args[1:]], env=info.env(), total=total,
                                    marker="processing data for table", progress=progress)
        except Exception:
            postgres.database_drop(target)
            raise
    return {"backup": str(backup.pk), "database": target, "live": live,
            "duration_seconds": round((timezone.now() - started).total_seconds(), 3)}


def _toc_without_installed_extensions(pg_restore: Path, dump: Path, info: postgres.ConnInfo, folder: Path) -> Path:
    """The dump's table of contents minus the extensions the live database already has.

    `--clean` would otherwise DROP and CREATE EXTENSION vector: the `vector` type would get a new
    OID, and every other process's connection (web, workers), which registered the old OID with
    pgvector's adapter, would read vectors wrongly until it reconnects.
    """
    with postgres.autocommit_connection(info) as conn:
        installed = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
    toc = subprocess.run([str(pg_restore), "-l", str(dump)], capture_output=True, text=True, check=True).stdout
    kept = [line for line in toc.splitlines()
            if not any(f" EXTENSION - {ext} " in f"{line} " or f" EXTENSION {ext} " in f"{line} " for ext in installed)]
    listing = folder / "toc.list"
    listing.write_text("\n".join(kept) + "\n")
    return listing


def _catalogue_restore(catalogue: list[Backup]) -> None:
    ids = {b.pk for b in catalogue}
    present = set(Backup.objects.filter(pk__in=ids).values_list("pk", flat=True))
    fields = [f.name for f in Backup._meta.concrete_fields if not f.primary_key]
    Backup.objects.bulk_update([b for b in catalogue if b.pk in present], fields)
    Backup.objects.bulk_create([b for b in catalogue if b.pk not in present])


def backup_verify(*, backup_id: Any, progress: Progress | None = None) -> Backup:
    """Restore into a scratch database, compare with the manifest, drop it, and record the report."""
    progress = progress or _no_progress
    backup = backup_get(backup_id=backup_id)
    backup_check_file(backup)
    scratch = f"agency_verify_{backup.pk.hex[:12]}_{os.getpid()}"
    started = timezone.now()
    try:
        backup_restore(backup_id=backup.pk, into=scratch, force=True, progress=progress)
        progress(0, 1, f"comparing {scratch} with the manifest")
        report = postgres.manifest_compare(backup.manifest, postgres.manifest_of(scratch))
    finally:
        postgres.database_drop(scratch)
    report["duration_seconds"] = round((timezone.now() - started).total_seconds(), 3)
    report["scratch_database"] = scratch
    backup.verified_at = timezone.now()
    backup.verification_ok = report["ok"]
    backup.verification = report
    backup.save(update_fields=["verified_at", "verification_ok", "verification", "updated_at"])
    return backup


def backup_delete(*, backup_id: Any) -> None:
    """Delete a backup record and its file (the admin's delete goes through here)."""
    backup = backup_get(backup_id=backup_id)
    if backup.file_path:
        Path(backup.file_path).unlink(missing_ok=True)
    backup.delete()
