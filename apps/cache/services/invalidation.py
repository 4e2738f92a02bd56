"""An operator's explicit flush: by tags, by keys, or by pattern, now (not tied to a database write)."""

from __future__ import annotations

from apps.platform.cache import cache_delete_many, cache_invalidate_pattern, cache_invalidate_tags


def cache_invalidate(*, tags: list[str] | None = None, keys: list[str] | None = None, pattern: str | None = None,
                     allow_all: bool = False) -> int:
    """Drop the entries named by exactly one of `tags`, `keys`, `pattern` at once; returns how many went.

    Runs immediately rather than on commit: nothing is being written that the flush must follow.
    """
    if tags is not None:
        deleted = cache_invalidate_tags(tags, on_commit=False)
    elif keys is not None:
        deleted = cache_delete_many(keys, on_commit=False)
    else:
        deleted = cache_invalidate_pattern(pattern, allow_all=allow_all, on_commit=False)
    return deleted or 0
