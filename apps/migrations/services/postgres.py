"""PostgreSQL plumbing shared by backups, maintenance and schema runs.

Why not Django's connection: VACUUM, REINDEX CONCURRENTLY and CREATE/DROP DATABASE must run
outside any transaction, and a service may be called from inside `transaction.atomic` (a test, an
admin action). A short-lived psycopg connection in autocommit mode is always outside of it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import sql

from apps.common.errors import ValidationFailed
from apps.platform import embedded
from apps.platform.db.tenancy import owner_options

VECTOR_TYPES = ("vector", "halfvec", "sparsevec")


@dataclass(frozen=True)
class ConnInfo:
    """Where the database Django uses lives, as libpq wants it (env vars for client binaries)."""

    host: str
    port: str
    user: str
    password: str
    dbname: str

    @classmethod
    def current(cls) -> ConnInfo:
        s = connection.settings_dict
        return cls(host=str(s.get("HOST") or ""), port=str(s.get("PORT") or ""), user=str(s.get("USER") or ""),
                   password=str(s.get("PASSWORD") or ""), dbname=str(s["NAME"]))

    def using(self, dbname: str) -> ConnInfo:
        return ConnInfo(self.host, self.port, self.user, self.password, dbname)

    def env(self) -> dict[str, str]:
        """The environment for pg_dump/pg_restore: credentials never appear on a command line.

        The clients run as the tables' owner (PGOPTIONS `-c role=…`): the login role is subject
        to row-level security, under which pg_dump refuses to dump (apps/platform/db/tenancy.py).
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"PGHOST": self.host, "PGPORT": self.port, "PGUSER": self.user, "PGDATABASE": self.dbname,
                    "PGOPTIONS": owner_options()})
        if self.password:
            env["PGPASSWORD"] = self.password
        return {k: v for k, v in env.items() if v != ""}

    def dsn(self) -> str:
        """A libpq DSN whose session runs as the tables' owner (upkeep, backups, scratch databases)."""
        parts = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
                 "password": self.password, "options": owner_options()}
        return psycopg.conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})

    def url(self) -> str:
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgres://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"


@contextmanager
def autocommit_connection(info: ConnInfo | None = None) -> Iterator[psycopg.Connection]:
    """A fresh connection in autocommit mode (VACUUM, REINDEX CONCURRENTLY, CREATE DATABASE)."""
    conn = psycopg.connect((info or ConnInfo.current()).dsn(), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def server_version_num() -> int:
    with autocommit_connection() as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0])


# --------------------------------------------------------------------------------------------
# client binaries


def _binary_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def pg_binary(name: str) -> Path:
    """The `pg_dump`/`pg_restore` matching the server: the embedded package's, else one on PATH.

    A client older than the server cannot dump it; a newer one may write SET commands an older
    server rejects on restore. So: the same major version when available, else the newest newer one.
    """
    server_major = server_version_num() // 10000
    candidates: list[Path] = []
    if settings.AGENCY_PG_BIN_DIR:
        candidates.append(Path(settings.AGENCY_PG_BIN_DIR) / name)
    with contextlib.suppress(Exception):  # the embedded PostgreSQL package is optional in production
        candidates.append(embedded.pg_bin_dir() / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    found = [(c, _binary_major(c)) for c in candidates if c.exists()]
    found = [(c, major) for c, major in found if major is not None]
    for path, major in found:
        if major == server_major:
            return path
    newer = sorted(((major, path) for path, major in found if major > server_major), key=lambda t: t[0])
    if newer:
        return newer[0][1]
    raise ValidationFailed(
        f"no {name} of version >= {server_major} found (tried: {', '.join(str(c) for c in candidates) or 'none'}); "
        "set AGENCY_PG_BIN_DIR", code="pg_client_missing",
    )


def binary_version(path: Path) -> str:
    return subprocess.run([str(path), "--version"], capture_output=True, text=True).stdout.strip()


def run_client(
    args: list[str], *, env: dict[str, str], total: int, marker: str, progress: Callable[[int, int, str], None]
) -> str:
    """Run pg_dump/pg_restore (verbose), turning each stderr line holding `marker` into progress; return stderr.

    A failure raises `ValidationFailed` with the client's error lines, so a command or a run record
    shows why the dump or restore failed rather than an exit code.
    """
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    done = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip()
        lines.append(line)
        if marker in line:
            done += 1
            progress(min(done, total), total, line.split(marker, 1)[1].strip().strip('"'))
    rc = proc.wait()
    if rc != 0:
        errors = [ln for ln in lines if "error" in ln.lower()] or lines
        raise ValidationFailed(f"{Path(args[0]).name} failed (exit {rc}): " + "\n".join(errors[-10:]),
                               code="pg_client_failed")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# databases


def database_exists(name: str) -> bool:
    with autocommit_connection(ConnInfo.current().using("postgres")) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def database_create(name: str) -> None:
    with autocommit_connection(ConnInfo.current().using("postgres")) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(name: str) -> None:
    if name == ConnInfo.current().dbname:
        raise ValidationFailed(f"refusing to drop the live database {name!r}", code="live_database")
    with autocommit_connection(ConnInfo.current().using("postgres")) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --------------------------------------------------------------------------------------------
# manifest: what a database holds, to prove a restore complete


def table_names(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [r[0] for r in rows]


def _columns(conn: psycopg.Connection) -> dict[str, dict[str, str]]:
    rows = conn.execute(
        "SELECT table_name, column_name, udt_name FROM information_schema.columns WHERE table_schema = 'public'"
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, udt in rows:
        out.setdefault(table, {})[column] = udt
    return out


def manifest(conn: psycopg.Connection) -> dict[str, Any]:
    """Row count and md5 of every public table, and an md5 of the vectors per collection.

    Vectors: for every table with a vector-typed column and a `collection_id` column (the
    embeddings table, whatever its exact shape), `md5(string_agg(md5(vector::text), ',' ORDER BY id))`
    grouped by collection. Hashing each row first keeps the aggregated string at 33 bytes a row:
    the plain `string_agg(vector::text)` of a large collection would pass PostgreSQL's 1 GB limit.
    Run it inside the snapshot pg_dump uses and it describes the dump exactly.
    """
    columns = _columns(conn)
    tables: dict[str, dict[str, Any]] = {}
    vectors: dict[str, dict[str, dict[str, Any]]] = {}
    for table in table_names(conn):
        ident = sql.Identifier(table)
        count, digest = conn.execute(
            sql.SQL("SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
                    " FROM (SELECT md5(t::text) AS h FROM {} t) r").format(ident)
        ).fetchone()
        tables[table] = {"rows": count, "md5": digest}
        cols = columns.get(table, {})
        vector_cols = sorted(c for c, udt in cols.items() if udt in VECTOR_TYPES)
        if vector_cols and "collection_id" in cols:
            order = sql.Identifier("id") if "id" in cols else sql.SQL("1")
            for col in vector_cols:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT collection_id::text, count(*), md5(coalesce(string_agg(md5({c}::text), ',' ORDER BY {o}), ''))"
                        " FROM {t} GROUP BY collection_id ORDER BY 1"
                    ).format(c=sql.Identifier(col), o=order, t=ident)
                ).fetchall()
                vectors[f"{table}.{col}"] = {str(cid): {"rows": n, "md5": d} for cid, n, d in rows}
    return {"tables": tables, "vectors": vectors}


def manifest_of(dbname: str | None = None) -> dict[str, Any]:
    info = ConnInfo.current()
    with autocommit_connection(info.using(dbname) if dbname else info) as conn:
        return manifest(conn)


def manifest_compare(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """Table by table and collection by collection: what matches and what does not."""
    mismatches: list[str] = []
    tables: dict[str, Any] = {}
    for table, want in sorted(expected.get("tables", {}).items()):
        got = actual.get("tables", {}).get(table)
        ok = got is not None and got["rows"] == want["rows"] and got["md5"] == want["md5"]
        tables[table] = {"expected_rows": want["rows"], "restored_rows": got["rows"] if got else None,
                         "checksum_ok": bool(got) and got["md5"] == want["md5"], "ok": ok}
        if not ok:
            mismatches.append(f"table {table}")
    vectors: dict[str, Any] = {}
    for key, collections in sorted(expected.get("vectors", {}).items()):
        got_collections = actual.get("vectors", {}).get(key, {})
        for cid, want in sorted(collections.items()):
            got = got_collections.get(cid)
            ok = got is not None and got == want
            vectors[f"{key}[{cid}]"] = {"expected_rows": want["rows"], "restored_rows": got["rows"] if got else None,
                                        "checksum_ok": ok}
            if not ok:
                mismatches.append(f"vectors {key} collection {cid}")
    return {"ok": not mismatches, "mismatches": mismatches, "tables": tables, "vectors": vectors}
