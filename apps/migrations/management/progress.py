"""Progress output and error handling shared by the schema app's commands (backup, maintain, schema_*...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.common.errors import DomainError


@contextmanager
def progress_bar(command: BaseCommand, desc: str, verbosity: int = 1) -> Iterator[Callable[[int, int, str], None]]:
    """A tqdm bar on the command's stderr fed by the services' progress(done, total, message) callback."""
    bar = tqdm(total=0, desc=desc, unit="step", file=command.stderr._out, leave=True,
               disable=verbosity == 0)

    def update(done: int, total: int, message: str) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def domain_errors() -> Iterator[None]:
    """A service's DomainError becomes a CommandError with its message (exit code 1, no traceback)."""
    try:
        yield
    except DomainError as exc:
        raise CommandError(exc.message) from exc
