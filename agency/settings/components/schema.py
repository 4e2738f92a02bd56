"""Settings of the schema app (schema evolution, backups, maintenance), read from the environment (see README)."""

from pathlib import Path

from agency.settings.environment import AGENCY_DATA_DIR, env

# Where `pg_dump` files go.
AGENCY_BACKUP_DIR = Path(env("AGENCY_BACKUP_DIR", default=str(AGENCY_DATA_DIR / "backups"))).resolve()
# Retention applied after each backup: the newest N daily and M weekly backups keep their files.
AGENCY_BACKUP_KEEP_DAILY = env.int("AGENCY_BACKUP_KEEP_DAILY", default=7)
AGENCY_BACKUP_KEEP_WEEKLY = env.int("AGENCY_BACKUP_KEEP_WEEKLY", default=4)
# The scheduled backup is a weekly one on this ISO weekday (1 = Monday ... 7 = Sunday), daily otherwise.
AGENCY_BACKUP_WEEKLY_DAY = env.int("AGENCY_BACKUP_WEEKLY_DAY", default=7)
# Audit log entries and the schema app's run records older than this are purged daily.
AGENCY_RETENTION_DAYS = env.int("AGENCY_RETENTION_DAYS", default=90)
# Expiry (s) of the overlap locks of maintenance/backup/migration jobs; a live job extends it, a dead one
# lets it lapse. AGENCY_OPS_LOCK_TTL, the name before issue #12, is still read when this one is unset, so
# no deployment breaks; it is deprecated (`manage.py check` warns: schema.W001).
AGENCY_SCHEMA_LOCK_TTL = env.int("AGENCY_SCHEMA_LOCK_TTL", default=env.int("AGENCY_OPS_LOCK_TTL", default=60))
# A vector index is rebuilt when its size exceeds this many times the size expected for its rows...
AGENCY_REINDEX_BLOAT_RATIO = env.float("AGENCY_REINDEX_BLOAT_RATIO", default=2.0)
# ...and it is bigger than this (bytes): rebuilding tiny indexes is never worth it.
AGENCY_REINDEX_MIN_BYTES = env.int("AGENCY_REINDEX_MIN_BYTES", default=8 * 1024 * 1024)
# pg_dump/pg_restore to use (default: the embedded server's, or the one on PATH matching the server).
AGENCY_PG_BIN_DIR = env("AGENCY_PG_BIN_DIR", default="")
