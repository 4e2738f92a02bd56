"""Django's own cache test-suite against `TwoLevelCache`, as Django runs it against its RedisCache.

``BaseCacheTests`` of Django 5.2.8 (``tests/cache/tests.py`` of Django's sdist, vendored unmodified
in ``third_party/django-5.2.8/``) runs here on the real Redis, with the ``caches`` settings built by
its own ``caches_setting_for_tests`` and the same exclusions as Django's ``RedisCacheTests``: the
``cull`` and ``zero_cull`` caches (Redis evicts by itself, so ``test_cull``, ``test_zero_cull`` and
``test_cull_delete_when_store_empty`` skip with "Culling isn't implemented."). Django's
``RedisCacheTests`` also overrides ``incr_decr_type_error`` to redis-py's ``ResponseError``; this
backend raises ``TypeError`` for ``incr`` of a non-integer, which is the suite's default, so
nothing is overridden. Its extra tests are about ``RedisCacheClient``'s internals (``_cache``,
``_get_connection_pool``, ``_serializer``) and do not apply.

L1 is in play: each test starts with every cache's invalidation subscriber confirmed, so values
are served from L1 wherever the suite reads back what it wrote. The suite runs twice: with the
fast round trip (`wire`) and with redis-py's stock pipeline, which makes it the equivalence test
of that fast path.
"""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import TestCase, override_settings

from apps.platform.db.tenancy import as_owner
from apps.platform.tests import django_cache_models

SUITE = Path(__file__).resolve().parents[3] / "third_party" / "django-5.2.8" / "tests"
# The suite is the package `cache` (its settings name "cache.tests.custom_key_func"); its models
# module is replaced by the stand-in (see django_cache_models).
sys.modules.setdefault("cache.models", django_cache_models)
if str(SUITE) not in sys.path:
    sys.path.insert(0, str(SUITE))
from cache.tests import BaseCacheTests, caches_setting_for_tests  # noqa: E402

REDIS_EXCLUDED = {"cull", "zero_cull"}  # as Django's RedisCacheTests


def _base(**options) -> dict:
    return {
        "BACKEND": "apps.platform.cache.backends.TwoLevelCache",
        "LOCATION": settings.CACHES["default"]["LOCATION"],
        "KEY_PREFIX": f"django-suite-{os.getpid()}",
        "OPTIONS": {"IGNORE_EXCEPTIONS": False, "INVALIDATION_CHANNEL": f"django-suite-{os.getpid()}", **options},
    }


class _TwoLevelSuite(BaseCacheTests):
    @classmethod
    def setUpTestData(cls):
        # Rolled back with the class's transaction; made by the owner (the login role may not create
        # tables, apps/platform/db/tenancy.py) and granted to the login role, as `migrate` does.
        with as_owner(), connection.schema_editor() as editor:
            editor.create_model(django_cache_models.Poll)
            editor.execute(f"GRANT ALL ON {django_cache_models.Poll._meta.db_table} TO SESSION_USER")

    def setUp(self):
        super().setUp()
        for alias in settings.CACHES:
            assert caches[alias].engine.wait_subscribed(timeout=10), f"{alias}: no invalidation subscriber"

    def tearDown(self):
        super().tearDown()  # clears "default"; Django's RedisCache clear() is FLUSHDB, which emptied the rest too
        for alias in settings.CACHES:
            caches[alias].clear()

    def test_l1_serves_what_the_suite_reads_back(self):
        cache = caches["default"]
        cache.set("l1-probe", {"n": 1})
        hits = cache.engine.local.hits
        assert cache.get("l1-probe") == {"n": 1}
        assert cache.engine.local.hits == hits + 1


@override_settings(CACHES=caches_setting_for_tests(base=_base(), exclude=REDIS_EXCLUDED))
class TwoLevelCacheTests(_TwoLevelSuite, TestCase):
    """BaseCacheTests with the fast round trip (the configuration in production)."""


@override_settings(CACHES=caches_setting_for_tests(base=_base(FAST_ROUNDTRIP=False), exclude=REDIS_EXCLUDED))
class TwoLevelCacheStockPipelineTests(_TwoLevelSuite, TestCase):
    """BaseCacheTests with redis-py's pipeline instead of the fast round trip (`wire`'s switch)."""
