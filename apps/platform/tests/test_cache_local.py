import time

from apps.platform.cache.local import MISSING, LocalCache


def test_lru_evicts_least_recently_used_beyond_max_entries():
    l1 = LocalCache(max_entries=2, max_ttl=60)
    l1.set("a", 1, ttl=None)
    l1.set("b", 2, ttl=None)
    assert l1.get("a") == 1  # a is now most recent
    l1.set("c", 3, ttl=None)
    assert l1.get("b") is MISSING
    assert l1.get("a") == 1 and l1.get("c") == 3
    assert l1.evictions == 1 and len(l1) == 2


def test_entries_expire_after_their_ttl_capped_by_max_ttl():
    l1 = LocalCache(max_entries=10, max_ttl=0.1)
    l1.set("short", "x", ttl=0.05)
    l1.set("long", "y", ttl=3600)  # capped at 0.1 s
    assert l1.get("short") == "x"
    time.sleep(0.12)
    assert l1.get("short") is MISSING and l1.get("long") is MISSING
    assert l1.expirations == 2


def test_a_value_read_before_an_invalidation_is_not_stored_after_it():
    l1 = LocalCache(max_entries=10, max_ttl=60)
    generation = l1.generation
    l1.delete_many(["k"])  # the invalidation arrives while the reader was fetching from L2
    assert l1.set("k", "stale", ttl=None, generation=generation) is False
    assert l1.get("k") is MISSING


def test_drop_by_tag_and_pattern():
    l1 = LocalCache(max_entries=10, max_ttl=60)
    l1.set("user:1", 1, ttl=None, tags=["users"])
    l1.set("user:2", 2, ttl=None)
    l1.set("task:1", 3, ttl=None, tags=["tasks"])
    assert l1.drop_tags(["users"]) == 1
    assert l1.drop_pattern("task:*") == 1
    assert l1.get("user:2") == 2 and len(l1) == 1
