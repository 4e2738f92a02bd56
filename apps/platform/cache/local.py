"""L1: a bounded, thread-safe, in-process LRU with a TTL per entry.

It only ever holds copies of what is in Redis (L2), under the full Redis key (prefix and version
included), and never longer than the L2 key lives; the coherence subscriber drops entries when
another process writes. `generation` grows on every invalidation so that a reader who fetched a
value from L2 *before* an invalidation arrived does not put that stale value into L1 afterwards.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

MISSING: Any = object()
_NO_TAGS: frozenset[str] = frozenset()


class LocalCache:
    """The L1 of one cache alias in one process (see the module docstring)."""

    def __init__(self, *, max_entries: int, max_ttl: float) -> None:
        self.max_entries = max(0, int(max_entries))
        self.max_ttl = float(max_ttl)
        self._data: OrderedDict[str, tuple[float, Any, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        """Whether `key` has an entry (expired or not), without counting a hit or touching the LRU order."""
        return key in self._data

    def get(self, key: str) -> Any:
        """The stored value (as stored) or MISSING; counts hits and misses.

        Lock-free: a dict lookup and ``move_to_end`` are atomic under the GIL, and an entry that
        another thread removes meanwhile is simply a miss. The counters may lose an increment
        under contention (they are statistics, not accounting).
        """
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return MISSING
        if entry[0] <= time.monotonic():
            with self._lock:
                if self._data.get(key) is entry:
                    del self._data[key]
                    self.expirations += 1
            self.misses += 1
            return MISSING
        try:  # noqa: SIM105 - contextlib.suppress costs a third of an L1 hit
            self._data.move_to_end(key)
        except KeyError:  # removed by another thread since the lookup: serve what we read
            pass
        self.hits += 1
        return entry[1]

    def set(self, key: str, value: Any, *, ttl: float | None, tags: Iterable[str] = (),
            generation: int | None = None) -> bool:
        """Store unless an invalidation happened since `generation` was read; evicts the LRU entry."""
        if self.max_entries == 0:
            return False
        life = self.max_ttl if ttl is None else min(float(ttl), self.max_ttl)
        if life <= 0:
            return False
        entry = (time.monotonic() + life, value, frozenset(tags) if tags else _NO_TAGS)
        with self._lock:
            if generation is not None and generation != self.generation:
                return False
            data = self._data
            data[key] = entry
            data.move_to_end(key)
            if len(data) > self.max_entries:
                while len(data) > self.max_entries:
                    data.popitem(last=False)
                    self.evictions += 1
        return True

    def delete_many(self, keys: Iterable[str]) -> int:
        with self._lock:
            self.generation += 1
            return sum(1 for k in keys if self._data.pop(k, None) is not None)

    def drop_tags(self, tags: Iterable[str]) -> int:
        wanted = set(tags)
        with self._lock:
            self.generation += 1
            doomed = [k for k, (_, _, t) in self._data.items() if t & wanted]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def drop_pattern(self, pattern: str) -> int:
        with self._lock:
            self.generation += 1
            doomed = [k for k in self._data if fnmatch.fnmatchcase(k, pattern)]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._data.clear()

    def reset_after_fork(self) -> None:
        """Start empty with a new lock, in a forked child (called by the coherence fork hook).

        The inherited lock may have been held by a thread of the parent that does not exist in the
        child, so it is replaced rather than taken; the inherited entries were never covered by
        this process's subscriber, so they are dropped.
        """
        self._lock = threading.Lock()
        self.generation += 1
        self._data.clear()
