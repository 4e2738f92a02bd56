"""What the key and tenant commands share: domain errors as CommandError, date parsing, the actor."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time

from django.core.management.base import CommandError
from django.utils.dateparse import parse_date, parse_datetime

from apps.common.errors import DomainError

ACTOR = "manage.py"


@contextmanager
def domain_errors() -> Iterator[None]:
    """A refused write is a CommandError carrying the service's message (which names the culprit)."""
    try:
        yield
    except DomainError as exc:
        raise CommandError(exc.message) from None


def parse_expiry(value: str | None) -> datetime | None:
    """`2027-01-01` (midnight UTC) or an ISO datetime (UTC unless it says otherwise)."""
    if not value:
        return None
    try:
        found = parse_datetime(value)
        if found is None:
            day = parse_date(value)
            found = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        found = None
    if found is None:
        raise CommandError(f"--expires: {value!r} is not a date (2027-01-01) or an ISO datetime")
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
