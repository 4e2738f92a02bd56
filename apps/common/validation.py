"""Checks of client input that several apps make the same way, each raising the API's 4xx naming the field.

What PostgreSQL cannot store is refused here, where input enters, rather than met as a
`DataError` (a 500) on the way in:

* NUL (U+0000) in any text or JSON string or key: text, varchar and jsonb cannot hold it
  (`json_check`, `text_check`, and DRF's CharField, which refuses it by itself);
* JSON nested deeper than MAX_JSON_DEPTH (64) containers: far beyond any configuration, and
  deep enough to exhaust the recursion of every encoder on its way (`json.dumps` fails near 1,000);
* datetimes with a UTC offset beyond PostgreSQL's ±15:59 (`datetime_check`, `validate_datetime`);
* NaN and infinity where a number becomes an interval or a column (`validate_finite`);
* integral numbers in JSON beyond ±2^53 (MAX_JSON_INTEGER): a JSON parser reads them as doubles
  (orjson does beyond 64 bits, so `2^70` arrives as 1.1805916207174113e+21, and JavaScript
  clients do beyond 2^53), which silently changes the number; send such values as strings.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from apps.common.errors import NotFound, PayloadTooLarge, ValidationFailed

# Containers (objects and arrays) a stored JSON document may nest: capabilities, task data and
# results, session data. Filters have their own, smaller bound (apps.embeddings.selectors.filters).
MAX_JSON_DEPTH = 64
# PostgreSQL refuses a time zone displacement of 16 hours or more ("time zone displacement out of range").
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
NUL = "\x00"
# The largest integer a double (JSON's number everywhere but Python) holds exactly, with its neighbours.
MAX_JSON_INTEGER = 2**53
_NUL_VALUE = "NUL characters (\\u0000) are not allowed"
_NUL_KEY = "NUL characters (\\u0000) are not allowed in keys"


def parse_uuid(value: Any, field: str = "id") -> uuid.UUID:
    """A path id as a UUID; a malformed one cannot name any row, so it is a 404 (not a 500 from the cast)."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{field}: {value!r} is not a valid UUID", details={"field": field}) from None


def check_size(field: str, size: int, limit: int) -> None:
    """413 naming `field` when an encoded value of `size` bytes is over `limit`."""
    if size > limit:
        raise PayloadTooLarge(
            f"{field}: {size} bytes exceeds the limit of {limit} bytes",
            details={"field": field, "size": size, "limit": limit},
        )


_IMPRECISE = (f"integers beyond ±2^53 ({MAX_JSON_INTEGER}) lose precision as JSON numbers "
              "(so do integral values such as 1e21); send the value as a string")


def _imprecise(value: Any) -> bool:
    """An integral number beyond ±2^53: an int (not bool), or the double a parser made of a huge integer."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_JSON_INTEGER
    return isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) > MAX_JSON_INTEGER


def _key_path(path: str, key: Any) -> str:
    text = str(key).replace(NUL, "\\u0000")  # the message names the key readably
    return f"{path}.{text}" if path else text


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(path inside `value`, reason) of the first string or key holding NUL, of the first
    container nested deeper than `max_depth`, or of the first integral number beyond ±2^53
    (MAX_JSON_INTEGER); None when PostgreSQL's jsonb can take it all unchanged.

    Iterative, so a document nested a million deep is refused, not a RecursionError. The path is
    relative ("" for the value itself, "a.b[2]"); callers put their field name in front. Scalars
    are checked where they stand and only containers are stacked (a 256 KB document: a few ms).
    """
    if isinstance(value, str):
        return ("", _NUL_VALUE) if NUL in value else None
    if isinstance(value, int | float):
        return ("", _IMPRECISE) if _imprecise(value) else None
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict):
            if depth >= max_depth:
                return path, f"nested deeper than {max_depth} levels"
            for key, item in node.items():
                if isinstance(key, str) and NUL in key:
                    return _key_path(path, key), _NUL_KEY
                if isinstance(item, str):
                    if NUL in item:
                        return _key_path(path, key), _NUL_VALUE
                elif isinstance(item, int | float):
                    if _imprecise(item):
                        return _key_path(path, key), _IMPRECISE
                elif isinstance(item, dict | list | tuple):
                    stack.append((item, _key_path(path, key), depth + 1))
        elif isinstance(node, list | tuple):
            if depth >= max_depth:
                return path, f"nested deeper than {max_depth} levels"
            for i, item in enumerate(node):
                if isinstance(item, str):
                    if NUL in item:
                        return f"{path}[{i}]", _NUL_VALUE
                elif isinstance(item, int | float):
                    if _imprecise(item):
                        return f"{path}[{i}]", _IMPRECISE
                elif isinstance(item, dict | list | tuple):
                    stack.append((item, f"{path}[{i}]", depth + 1))
    return None


def _join(field: str, path: str) -> str:
    if not path:
        return field
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}"


def json_check(field: str, value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """400 naming the path (`capabilities.a.b: ...`) when `value` holds NUL or nests too deep (see json_problem)."""
    problem = json_problem(value, max_depth=max_depth)
    if problem:
        path = _join(field, problem[0])
        raise ValidationFailed(f"{path}: {problem[1]}", details={"field": path})


def text_check(field: str, value: Any) -> Any:
    """`value` unchanged, or a 400 naming `field` when it is text holding NUL (query parameters, say)."""
    if isinstance(value, str) and NUL in value:
        raise ValidationFailed(f"{field}: {_NUL_VALUE}", details={"field": field})
    return value


def check_json_object(field: str, value: Any, *, limit: int, allow_none: bool = False) -> None:
    """`value` must be a JSON object whose compact encoding fits in `limit` bytes (400 / 413 naming `field`),
    with nothing PostgreSQL's jsonb refuses (json_check: NUL, nesting past MAX_JSON_DEPTH)."""
    if value is None and allow_none:
        return
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field}: must be a JSON object, got {type(value).__name__}", details={"field": field})
    json_check(field, value)
    check_size(field, len(json.dumps(value, separators=(",", ":")).encode()), limit)


class JSONDocumentField(serializers.JSONField):
    """DRF's JSONField for a document stored in jsonb: NUL and excess depth are a 400 naming the path.

    Checked before DRF's own validation, which runs `json.dumps` over the value and would raise
    RecursionError (a 500) on a document nested a thousand deep. The error is keyed by the path
    inside the document, so the API's message reads `capabilities.a.b: ...`.
    """

    def to_internal_value(self, data: Any) -> Any:
        problem = json_problem(data)
        if problem:
            path, reason = problem
            raise serializers.ValidationError({path: [reason]} if path else [reason])
        return super().to_internal_value(data)


def datetime_problem(value: datetime) -> str | None:
    """Why PostgreSQL's timestamptz cannot take `value` (None if it can): a UTC offset beyond ±15:59."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        sign, rest = ("-", -offset) if offset < timedelta(0) else ("+", offset)
        hours, minutes = divmod(int(rest.total_seconds()) // 60, 60)
        return f"the UTC offset {sign}{hours:02d}:{minutes:02d} is outside PostgreSQL's range (±15:59)"
    return None


def validate_datetime(value: Any) -> None:
    """A form / serializer field validator (filter sets' `?since=`, `?created_before=`): datetime_problem."""
    problem = datetime_problem(value) if isinstance(value, datetime) else None
    if problem:
        raise ValidationError(problem, code="datetime_out_of_range")


def datetime_parse(value: Any) -> datetime:
    """ISO 8601 text as a datetime PostgreSQL can store; ValueError with the reason otherwise.

    Django's parse_datetime answers None for text that is no date-time and raises for one that
    looks like it but is impossible (`2024-13-45T00:00:00`, year 0); both are the same refusal.
    """
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 date-time ({exc})") from None
    if parsed is None:
        raise ValueError("expected an ISO 8601 date-time")
    problem = datetime_problem(parsed)
    if problem:
        raise ValueError(problem)
    return parsed


def validate_finite(value: Any) -> None:
    """A field validator: NaN and infinity are no duration or amount (`"NaN"` passes min/max checks)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("must be a finite number", code="not_finite")


def full_clean(obj: models.Model, **kwargs: Any) -> None:
    """`obj.full_clean(**kwargs)` with Django's error dict turned into the API's 400 naming the first field."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        errors = exc.message_dict
        field, messages = next(iter(errors.items()))
        label = "" if field == "__all__" else f"{field}: "
        raise ValidationFailed(f"{label}{messages[0]}", details=errors) from exc
