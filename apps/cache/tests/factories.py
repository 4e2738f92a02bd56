"""factory-boy factories for the cache app."""

import factory

from apps.cache.models import CacheStatsSnapshot, WarmingRule


class WarmingRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WarmingRule

    name = factory.Sequence(lambda n: f"rule-{n}")
    model_label = "agents.Agent"
    ttl = 300
    priority = 0
    enabled = True


class CacheStatsSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CacheStatsSnapshot

    l1_hits = 90
    l1_misses = 10
    l2_hits = 8
    l2_misses = 2
    hit_rate = 0.98
