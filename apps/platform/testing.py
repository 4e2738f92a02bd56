"""The test session's servers: a pytest plugin that starts them before pytest-django reads the settings.

Settings only find running servers (agency/settings/environment.py), so the session starts its
own first: pytest.ini loads this module with `-p apps.platform.testing`, and its
`pytest_load_initial_conftests` wraps pytest-django's, which imports the settings. Before that it

* reaps the servers and data dirs of earlier sessions that were killed (`embedded.reap_orphans`);
* makes a throw-away AGENCY_DATA_DIR (unless one is set) carrying this process's pid as owner;
* starts the embedded PostgreSQL (durability off) and Redis there, for each of DATABASE_URL /
  REDIS_URL that is unset (CI may point the suite at real services), and exports their URLs, so the
  processes the tests spawn (the Celery worker, coherence children, benchmarks) reuse them.

At the end of the session (or if starting fails half-way) it stops what it started and deletes
the data dir it made.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

from apps.platform import embedded

DATA_DIR_PREFIX = "agency-test-"


_made_data_dir: Path | None = None  # the throw-away dir this session made (None: it was given)


def _make_data_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix=DATA_DIR_PREFIX))
    folder.chmod(0o755)  # our own fresh dir: the unprivileged PostgreSQL user must reach into it
    (folder / embedded.OWNER_FILE).write_text(str(os.getpid()))
    return folder


def start_session_servers() -> None:
    """Make the data dir and start the servers this session needs; export what children need."""
    global _made_data_dir
    embedded.reap_orphans(DATA_DIR_PREFIX)
    if not os.environ.get("AGENCY_DATA_DIR"):
        _made_data_dir = _make_data_dir()
        os.environ["AGENCY_DATA_DIR"] = str(_made_data_dir)
    os.environ.setdefault("AGENCY_EMBEDDED_EPHEMERAL", "true")  # fsync off: the dir is thrown away
    if not embedded.flag_from_env("AGENCY_EMBEDDED", True):
        return
    data_dir = Path(os.environ["AGENCY_DATA_DIR"])
    if not os.environ.get("DATABASE_URL"):
        ephemeral = embedded.flag_from_env("AGENCY_EMBEDDED_EPHEMERAL", True)
        os.environ["DATABASE_URL"] = embedded.ensure_postgres(data_dir, ephemeral=ephemeral).url
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded.ensure_redis(data_dir).url


def stop_session_servers() -> None:
    """Stop the servers this process started (and only those), and delete the data dir it made."""
    global _made_data_dir
    embedded.stop_started()
    if _made_data_dir is not None:
        shutil.rmtree(_made_data_dir, ignore_errors=True)
        _made_data_dir = None


def _help_or_version(parser: pytest.Parser, args: list[str]) -> bool:
    options = parser.parse_known_args(args)
    return bool(getattr(options, "help", False) or getattr(options, "version", False))


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Around pytest-django's hook of the same name (which imports the settings): servers first."""
    if not _help_or_version(parser, args):
        try:
            start_session_servers()
        except BaseException:
            stop_session_servers()
            raise
    try:
        return (yield)
    except BaseException:
        stop_session_servers()  # the session ends here: pytest_unconfigure will not run
        raise


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After the conftests' own unconfigure (which closes the cache subscriber): stop the servers."""
    stop_session_servers()
