"""The service API against the real Redis: levels, TTLs, tags, patterns, bad input, single flight."""

import threading
import time

import pytest
from django.db import transaction
from django_redis import get_redis_connection

from apps.cache.tests.conftest import cache_options, subscribed, wait_until
from apps.common.errors import PayloadTooLarge, ValidationFailed
from apps.platform import cache


def raw_exists(key: str) -> bool:
    c = cache.get_cache()
    return bool(get_redis_connection("default").exists(c.make_key(key)))


def test_set_then_get_serves_from_l1_and_l2():
    c = subscribed()
    cache.cache_set("greeting", {"text": "hello"}, ttl=30)
    assert raw_exists("greeting")
    assert cache.cache_get("greeting") == {"text": "hello"}
    assert c.local.hits == 1  # served by L1
    c.local.clear()
    assert cache.cache_get("greeting") == {"text": "hello"}
    assert c.l2_hits == 1  # then by L2, and put back into L1
    assert cache.cache_get("greeting") == {"text": "hello"} and c.local.hits == 2


def test_l1_returns_a_copy_that_callers_cannot_corrupt():
    subscribed()
    cache.cache_set("doc", {"n": 1})
    cache.cache_get("doc")["n"] = 999
    assert cache.cache_get("doc") == {"n": 1}


def test_ttl_expiry_in_both_levels():
    subscribed()
    cache.cache_set("brief", "v", ttl=0.3)
    assert cache.cache_get("brief") == "v"
    time.sleep(0.45)
    assert cache.cache_get("brief", "gone") == "gone"
    assert not raw_exists("brief")


def test_get_default_on_miss_and_delete():
    assert cache.cache_get("nope", 7) == 7
    cache.cache_set("k", 1)
    assert cache.cache_delete("k") == 1
    assert cache.cache_get("k") is None
    cache.cache_set("a", 1)
    cache.cache_set("b", 2)
    assert cache.cache_delete_many(["a", "b", "c"]) == 2


def test_tag_invalidation_drops_tagged_keys_only():
    c = subscribed()
    cache.cache_set("agent:1", 1, tags=["agents"])
    cache.cache_set("agent:2", 2, tags=["agents", "team:x"])
    cache.cache_set("task:1", 3, tags=["tasks"])
    assert cache.cache_invalidate_tags(["agents"]) >= 2
    assert cache.cache_get("agent:1") is None and cache.cache_get("agent:2") is None
    assert not raw_exists("agent:1") and not raw_exists("agent:2")
    assert cache.cache_get("task:1") == 3
    assert c.make_key("agent:1") not in c.local


def test_pattern_invalidation_uses_globs_and_refuses_everything_without_flag():
    for i in range(30):
        cache.cache_set(f"report:{i}", i)
    cache.cache_set("other", "keep")
    assert cache.cache_invalidate_pattern("report:*") == 30
    assert cache.cache_get("report:3") is None and cache.cache_get("other") == "keep"
    for bad in ["", "*", "**", "?*", "[*]"]:
        with pytest.raises(ValidationFailed, match="allow_all"):
            cache.cache_invalidate_pattern(bad)
    assert cache.cache_get("other") == "keep"  # nothing was deleted by the refusals
    assert cache.cache_invalidate_pattern("*", allow_all=True) >= 1
    assert cache.cache_get("other") is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cache.cache_set("k", lambda: 1), "not serialisable"),
        (lambda: cache.cache_set("k", threading.Lock()), "not serialisable"),
        (lambda: cache.cache_set("x" * 1025, 1), "over the limit of 1024 bytes"),
        (lambda: cache.cache_get("é" * 600), "over the limit"),
        (lambda: cache.cache_set("k", 1, ttl=-5), "ttl must be positive"),
        (lambda: cache.cache_set("k", 1, ttl=0), "ttl must be positive"),
        (lambda: cache.cache_set("k", 1, ttl="10"), "ttl must be a number"),
        (lambda: cache.cache_set("", 1), "non-empty string"),
        (lambda: cache.cache_set("k", 1, tags="agents"), "list of strings"),
        (lambda: cache.cache_set("k", 1, tags=[""]), "tag \\[0\\]"),
        (lambda: cache.cache_delete_many("abc"), "list of strings"),
        (lambda: cache.cache_get_or_set("k", lambda: 1, ttl=-1), "ttl must be positive"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_stored(call, message):
    with pytest.raises(ValidationFailed, match=message):
        call()
    assert get_redis_connection("default").dbsize() == 0


def test_oversized_value_is_refused(settings):
    cache_options(settings, MAX_VALUE_BYTES=1000)
    with pytest.raises(PayloadTooLarge, match="over 1000"):
        cache.cache_set("big", "x" * 5000)
    assert not raw_exists("big")


def test_get_or_set_single_flight_across_threads():
    """16 threads miss the same key at once; the (slow) loader runs exactly once."""
    calls = []
    barrier = threading.Barrier(16)
    results = []

    def loader():
        calls.append(1)
        time.sleep(0.3)
        return {"loaded": True}

    def reader():
        barrier.wait()
        results.append(cache.cache_get_or_set("hot", loader, ttl=30))

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert results == [{"loaded": True}] * 16


def test_get_or_set_single_flight_across_cache_instances():
    """Two independent caches (as two processes would have) share the Redis fill lock."""
    from apps.platform.cache import isolated_engine

    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.3)
        return "v"

    a, b = isolated_engine("default"), isolated_engine("default")
    out = []
    threads = [threading.Thread(target=lambda c=c: out.append(c.get_or_set("shared", loader, ttl=30)))
               for c in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    a.stop()
    b.stop()
    assert out == ["v"] * 4 and len(calls) == 1


def test_loader_errors_propagate_and_nothing_is_cached():
    def boom():
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        cache.cache_get_or_set("fragile", boom)
    assert not raw_exists("fragile")
    assert cache.cache_get_or_set("fragile", lambda: 5) == 5


@pytest.mark.django_db
def test_invalidation_waits_for_commit(django_capture_on_commit_callbacks):
    subscribed()
    cache.cache_set("row", "old")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        cache.cache_delete("row")
        assert raw_exists("row")  # not before the commit
    assert len(callbacks) >= 1
    assert not raw_exists("row")


def test_invalidation_is_published_to_other_caches_in_this_process():
    """A second cache instance (another 'process') drops its L1 copy on the published message."""
    from apps.platform.cache import isolated_engine

    other = isolated_engine("default")
    try:
        other.l1_usable()
        assert wait_until(lambda: other.subscribed)
        cache.cache_set("shared", "v1")
        assert wait_until(lambda: other.deliveries >= 1)  # else its fill could race with that message
        assert other.get("shared") == "v1"
        assert other.make_key("shared") in other.local
        cache.cache_set("shared", "v2")
        assert wait_until(lambda: other.make_key("shared") not in other.local, timeout=2)
        assert other.get("shared") == "v2"
    finally:
        other.stop()


def _forked_child(queue):
    """In a forked child: the inherited cache starts its own subscriber and sees another write."""
    c = cache.get_cache()
    try:
        queue.put(("started", wait_until(lambda: c.l1_usable(), timeout=5)))
        cache.cache_get("forked")  # into the child's L1
        queue.put(("ready", c.make_key("forked") in c.local))
        queue.put(("fresh", wait_until(lambda: cache.cache_get("forked") == "v2", timeout=5)))
    except Exception as exc:  # noqa: BLE001
        queue.put(("error", repr(exc)))


def test_a_forked_child_gets_its_own_subscriber_and_fresh_locks():
    import multiprocessing

    subscribed()
    cache.cache_set("forked", "v1")
    assert cache.cache_get("forked") == "v1"
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_forked_child, args=(queue,))
    proc.start()
    try:
        assert queue.get(timeout=10) == ("started", True)
        assert queue.get(timeout=10) == ("ready", True)
        cache.cache_set("forked", "v2")
        assert queue.get(timeout=10) == ("fresh", True)
    finally:
        proc.join(10)
        proc.kill()


def test_a_fill_that_raced_with_an_invalidation_does_not_write_its_stale_value():
    """The loader read the old row; a writer committed and invalidated meanwhile: L2 must stay empty."""
    from apps.platform.cache import isolated_engine

    writer = isolated_engine("default")  # another process

    def slow_loader():
        stale = "v1 (read before the write)"
        writer.set("raced", "v2", ttl=30)  # the concurrent write…
        writer.invalidate(keys=["raced"])  # …and its invalidation on commit
        return stale

    try:
        assert cache.cache_get_or_set("raced", slow_loader) == "v1 (read before the write)"
        assert not raw_exists("raced")  # the stale fill was refused: the lease had been revoked
        assert cache.cache_get_or_set("raced", lambda: "v2") == "v2"
        assert raw_exists("raced")
    finally:
        writer.stop()


def test_tag_sets_outlive_their_longest_member():
    cache.cache_set("long", 1, ttl=1000, tags=["g"])
    cache.cache_set("short", 2, ttl=1, tags=["g"])
    c = cache.get_cache()
    assert get_redis_connection("default").ttl(c.make_key("tag:g")) > 1000
