"""The API's paging: `?limit=&offset=`, each checked, and documented with the bounds it enforces."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import LimitOffsetPagination

from apps.common.errors import ValidationFailed

# PostgreSQL's OFFSET is a bigint; this bound leaves room for the limit added to it.
MAX_OFFSET = 2**62


def _paging_int(request: Any, name: str, *, default: int, lo: int, hi: int | None = None) -> int:
    """`?name=` as an integer in [lo, hi]; absent (or empty) is `default`, anything else a 400 naming it."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: expected an integer, got {raw[:40]!r}", details={"field": name}) from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValidationFailed(f"{name}: must be {bound}, got {value}", details={"field": name})
    return value


class DefaultPagination(LimitOffsetPagination):
    """`?limit=&offset=`, bounded so that no client can ask for an unbounded page.

    DRF's own class replaces an invalid value by the default and a too-large limit by the maximum,
    so a client asking for `limit=5000` or `offset=-1` silently got another page than it asked
    for; here each is a 400 naming the parameter, and the schema states the same bounds.
    """

    default_limit = 50
    max_limit = 1000

    def get_limit(self, request: Any) -> int:
        return _paging_int(request, self.limit_query_param, default=self.default_limit, lo=1, hi=self.max_limit)

    def get_offset(self, request: Any) -> int:
        return _paging_int(request, self.offset_query_param, default=0, lo=0, hi=MAX_OFFSET)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit, default=self.default_limit)
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET, default=0)
        return parameters
