"""Checks of client input that several apps make the same way, each raising the API's 4xx naming the field."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from apps.common.errors import NotFound, PayloadTooLarge, ValidationFailed


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


def check_json_object(field: str, value: Any, *, limit: int, allow_none: bool = False) -> None:
    """`value` must be a JSON object whose compact encoding fits in `limit` bytes (400 / 413 naming `field`)."""
    if value is None and allow_none:
        return
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field}: must be a JSON object, got {type(value).__name__}", details={"field": field})
    check_size(field, len(json.dumps(value, separators=(",", ":")).encode()), limit)


def full_clean(obj: models.Model, **kwargs: Any) -> None:
    """`obj.full_clean(**kwargs)` with Django's error dict turned into the API's 400 naming the first field."""
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        errors = exc.message_dict
        field, messages = next(iter(errors.items()))
        label = "" if field == "__all__" else f"{field}: "
        raise ValidationFailed(f"{label}{messages[0]}", details=errors) from exc
