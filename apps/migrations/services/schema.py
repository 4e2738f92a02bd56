"""The migration service: plan, rehearse, apply and roll back schema migrations, with a record of each.

A real run takes a backup first (so a failed migration can be undone by `restore`), holds a Redis
lock so two deploys do not migrate at once, and records who ran what, how long it took and how it
ended. A dry run rehearses the same plan on a scratch copy of the database (dump + restore), in a
separate process whose DATABASE_URL names the copy, so even a data migration that ignores the
connection alias cannot touch the live data; the copy is dropped afterwards.
"""

from __future__ import annotations

import getpass
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.exceptions import AmbiguityError
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.common.errors import Conflict, ValidationFailed
from apps.migrations.models import Backup, MigrationRun, RunStatus
from apps.migrations.services import postgres
from apps.migrations.services.backups import backup_create
from apps.migrations.services.guard import SCHEMA_LOCK, LockNotAcquired, exclusive

logger = logging.getLogger(__name__)


def default_actor() -> str:
    try:
        return f"{getpass.getuser()} (shell)"
    except (KeyError, OSError):
        return "shell"


def _plan_entries(plan: list[tuple[Any, bool]], executor: MigrationExecutor, *, with_sql: bool) -> list[dict]:
    entries = []
    for migration, backwards in plan:
        entry: dict[str, Any] = {"app": migration.app_label, "name": migration.name, "backwards": backwards,
                                 "atomic": migration.atomic, "operations": [op.describe() for op in migration.operations]}
        if with_sql:
            try:
                entry["sql"] = executor.loader.collect_sql([(migration, backwards)])
            except Exception as exc:  # noqa: BLE001 - some operations cannot be rendered as SQL
                entry["sql"] = [f"-- could not render the SQL: {exc}"]
        entries.append(entry)
    return entries


def schema_plan(*, with_sql: bool = True) -> list[dict[str, Any]]:
    """The unapplied migrations of every app, in order, each with the SQL it would run."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _plan_entries(plan, executor, with_sql=with_sql)


# --------------------------------------------------------------------------------------------
# records survive even when the migrations being run create or drop their own table


def _recordable() -> bool:
    return MigrationRun._meta.db_table in connection.introspection.table_names()


def _save(run: MigrationRun) -> None:
    if _recordable():
        run.save()
    else:
        logger.warning("schema_migrationrun does not exist (yet); %s not recorded", run)


def _finish(run: MigrationRun, started: float, *, status: str, error: str = "") -> MigrationRun:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.duration_seconds = round(time.monotonic() - started, 3)
    if run.backup_id and not _backup_table_exists():
        run.backup = None
    _save(run)
    return run


def _backup_table_exists() -> bool:
    return Backup._meta.db_table in connection.introspection.table_names()


def _new_run(*, action: str, dry_run: bool, target: str, plan: list[dict], requested_by: Any, actor: str) -> MigrationRun:
    run = MigrationRun(
        action=action, dry_run=dry_run, target=target, plan=plan, status=RunStatus.RUNNING, attempts=1,
        requested_by=requested_by, actor=actor or getattr(requested_by, "username", "") or default_actor(),
        started_at=timezone.now(),
    )
    _save(run)
    return run


def _backup_first(run: MigrationRun) -> str | None:
    """Take the safety backup; returns an error message when it failed (then nothing is migrated)."""
    backup = backup_create(kind="manual", actor=f"{run.actor} ({run.action})", apply_retention=False)
    if backup.status != RunStatus.SUCCEEDED:
        return f"the backup before {run.action} did not succeed ({backup.status}: {backup.error}); nothing migrated"
    run.backup = backup
    return None


def _apply(run: MigrationRun, args: list[str], started: float) -> MigrationRun:
    out = io.StringIO()
    try:
        call_command("migrate", *args, interactive=False, verbosity=1, stdout=out, stderr=out)
    except Exception as exc:  # noqa: BLE001 - recorded on the run, with the way back
        run.output = out.getvalue()
        hint = f"; restore the backup with: manage.py restore {run.backup_id} --force" if run.backup_id else ""
        logger.exception("%s failed", run.action)
        return _finish(run, started, status=RunStatus.FAILED, error=f"{exc}{hint}")
    run.output = out.getvalue()
    return _finish(run, started, status=RunStatus.SUCCEEDED)


# --------------------------------------------------------------------------------------------


def schema_migrate(*, dry_run: bool = False, backup: bool = True, requested_by: Any = None, actor: str = "") -> MigrationRun:
    """Apply every unapplied migration (after a backup), or rehearse them on a scratch copy."""
    started = time.monotonic()
    plan = schema_plan(with_sql=False)
    run = _new_run(action=MigrationRun.Action.MIGRATE, dry_run=dry_run, target="", plan=plan,
                   requested_by=requested_by, actor=actor)
    if not plan:
        run.output = "nothing to apply: every migration is applied"
        return _finish(run, started, status=RunStatus.SUCCEEDED)
    try:
        with exclusive(SCHEMA_LOCK, ttl=None):
            if dry_run:
                return _rehearse(run, started)
            if backup and (error := _backup_first(run)):
                return _finish(run, started, status=RunStatus.FAILED, error=error)
            return _apply(run, [], started)
    except LockNotAcquired:
        _finish(run, started, status=RunStatus.SKIPPED, error="skipped: lock held")
        raise Conflict("another schema migration is running", code="schema_locked") from None


def _rehearse(run: MigrationRun, started: float) -> MigrationRun:
    """Copy the database (pg_dump | pg_restore) to a scratch one and run `migrate` there."""
    info = postgres.ConnInfo.current()
    scratch = f"agency_rehearse_{uuid.uuid4().hex[:12]}"
    timings: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="agency-rehearse-") as tmp:
            dump = Path(tmp) / "copy.dump"
            t0 = time.monotonic()
            postgres.run_client([str(postgres.pg_binary("pg_dump")), "-Fc", "-f", str(dump), info.dbname],
                        env=info.env(), total=0, marker="\0", progress=lambda *a: None)
            postgres.database_create(scratch)
            postgres.run_client([str(postgres.pg_binary("pg_restore")), "--no-owner", "--exit-on-error", "-d", scratch,
                         str(dump)], env=info.env(), total=0, marker="\0", progress=lambda *a: None)
            timings["copy_seconds"] = round(time.monotonic() - t0, 3)
        t1 = time.monotonic()
        env = {**os.environ, "DATABASE_URL": info.using(scratch).url(),
               "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "agency.settings.local")}
        proc = subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "migrate", "--noinput"],
                              env=env, capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=3600)
        timings["migrate_seconds"] = round(time.monotonic() - t1, 3)
    finally:
        postgres.database_drop(scratch)
    summary = (f"dry run on a scratch copy: would apply {len(run.plan)} migration(s); the copy took "
               f"{timings.get('copy_seconds', 0)} s, migrate took {timings.get('migrate_seconds', 0)} s; "
               "nothing was changed in the live database")
    run.output = f"{summary}\n\n{proc.stdout}{proc.stderr}"
    if proc.returncode != 0:
        return _finish(run, started, status=RunStatus.FAILED,
                       error=f"the rehearsal failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return _finish(run, started, status=RunStatus.SUCCEEDED)


def schema_rollback(
    *, app_label: str, migration: str, backup: bool = True, requested_by: Any = None, actor: str = ""
) -> MigrationRun:
    """Roll `app_label` back to `migration` (which stays applied; `zero` unapplies the whole app).

    Like `migrate APP MIGRATION`, migrations of other apps that depend on the reverted ones are
    reverted too (they are listed in the plan). It never goes forwards.
    """
    started = time.monotonic()
    executor = MigrationExecutor(connection)
    loader = executor.loader
    if app_label not in loader.migrated_apps:
        raise ValidationFailed(f"app {app_label!r} has no migrations (known: {', '.join(sorted(loader.migrated_apps))})",
                               code="unknown_app")
    if migration == "zero":
        target: tuple[str, str | None] = (app_label, None)
    else:
        try:
            target = (app_label, loader.get_migration_by_prefix(app_label, migration).name)
        except AmbiguityError:
            raise ValidationFailed(f"more than one migration of {app_label!r} matches {migration!r}; give more of the name",
                                   code="ambiguous_migration") from None
        except KeyError:
            raise ValidationFailed(f"app {app_label!r} has no migration named {migration!r}",
                                   code="unknown_migration") from None
        if target not in loader.applied_migrations:
            raise ValidationFailed(f"migration {app_label}.{target[1]} is not applied; roll back only to an applied "
                                   "migration (use schema_migrate to go forwards)", code="not_applied")
    plan = executor.migration_plan([target])
    if any(not backwards for _, backwards in plan):
        raise ValidationFailed(f"{app_label} {migration} is ahead of the database; use schema_migrate",
                               code="not_a_rollback")
    run = _new_run(action=MigrationRun.Action.ROLLBACK, dry_run=False, target=f"{app_label} {target[1] or 'zero'}",
                   plan=_plan_entries(plan, executor, with_sql=False), requested_by=requested_by, actor=actor)
    if not plan:
        run.output = f"nothing to roll back: {app_label} is at {target[1] or 'zero'}"
        return _finish(run, started, status=RunStatus.SUCCEEDED)
    try:
        with exclusive(SCHEMA_LOCK, ttl=None):
            if backup and (error := _backup_first(run)):
                return _finish(run, started, status=RunStatus.FAILED, error=error)
            return _apply(run, [app_label, target[1] or "zero"], started)
    except LockNotAcquired:
        _finish(run, started, status=RunStatus.SKIPPED, error="skipped: lock held")
        raise Conflict("another schema migration is running", code="schema_locked") from None
