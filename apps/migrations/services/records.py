"""Start and finish the run records every operation keeps (status, timing, attempts)."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.migrations.models import RunStatus

_clock: dict[Any, float] = {}


def run_start(run: Any) -> None:
    """Mark `run` running; `attempts` counts deliveries, so a redelivered task shows 2."""
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.error = ""
    type(run).objects.filter(pk=run.pk).update(
        status=run.status, started_at=run.started_at, error="", attempts=F("attempts") + 1
    )
    run.refresh_from_db(fields=["attempts"])
    _clock[run.pk] = time.monotonic()


def run_finish(run: Any, *, status: str, error: str = "", fields: tuple[str, ...] = ()) -> None:
    """Mark `run` finished with `status`, saving `fields` the caller changed along with the timing."""
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    started = _clock.pop(run.pk, None)
    run.duration_seconds = round(time.monotonic() - started, 3) if started is not None else None
    run.save(update_fields=["status", "error", "finished_at", "duration_seconds", "updated_at", *fields])


def run_skip(run: Any, *, reason: str) -> None:
    run.status = RunStatus.SKIPPED
    run.error = reason
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "updated_at"])
