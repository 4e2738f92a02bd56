"""Request rates written as DRF does (`600/minute`), parsed once and checked at the door.

DRF's own parser accepts anything whose period starts with s/m/h/d (`10/mop` is 10 a minute);
a tenant's quota is operator input, so here only the spelled-out forms pass.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

RATE_SQL = r"^[1-9][0-9]{0,8}/(s|sec|second|m|min|minute|h|hour|d|day)$"
_RATE = re.compile(r"([1-9][0-9]{0,8})/(s|sec|second|m|min|minute|h|hour|d|day)")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """(requests, window seconds) of `rate`; ValueError naming it when malformed."""
    found = _RATE.fullmatch(rate or "")
    if found is None:
        raise ValueError(f"request rate {rate!r} is not like '600/minute' (per s, sec, second, m, min, minute, h, "
                         "hour, d or day)")
    return int(found.group(1)), _SECONDS[found.group(2)[0]]


def validate_rate(value: str | None) -> None:
    """Django validator for a rate field (None/empty: the default rate applies)."""
    if value:
        try:
            rate_parse(value)
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid_rate") from None
