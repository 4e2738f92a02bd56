"""Warming: load the most-read rows (access counts kept in Redis) into L2 before they are asked for."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.cache.models import WarmingRule
from apps.common.errors import ValidationFailed
from apps.platform.cache import ACCESS_KEY, cacheable, get_cache, model_tag, parse_row_key


def cache_warm(*, limit: int | None = None) -> dict[str, int]:
    """Load up to `limit` of the most-read row keys that are absent from L2; returns counts.

    Enabled `WarmingRule`s choose which keys qualify and their TTL (highest priority wins); with
    none, every tracked row key qualifies with AGENCY_CACHE_INSTANCE_TTL. Idempotent: present keys
    are skipped, so running it twice does no extra work.
    """
    limit = settings.AGENCY_CACHE_WARM_LIMIT if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationFailed(f"limit must be a positive integer, got {limit!r}", code="invalid")
    c = get_cache()
    c.flush_counters()
    rules = list(WarmingRule.objects.filter(enabled=True).order_by("-priority", "name"))
    ranked = c.call("read access counts", lambda r: r.zrevrange(c.make_key(ACCESS_KEY), 0, limit * 4 - 1), None)
    result = {"considered": 0, "loaded": 0, "present": 0, "missing": 0, "skipped": 0}
    if ranked is None:
        return result
    chosen: list[tuple[str, int]] = []
    for member in ranked:
        key = member.decode() if isinstance(member, bytes) else member
        if rules:
            rule = next((r for r in rules if r.matches(key)), None)
            if rule is None:
                result["skipped"] += 1
                continue
            ttl = rule.ttl
        else:
            ttl = settings.AGENCY_CACHE_INSTANCE_TTL
        chosen.append((key, ttl))
        if len(chosen) >= limit:
            break
    result["considered"] = len(chosen)
    exists = c.call("check warm keys", lambda r: _exists(r, c, [k for k, _ in chosen]), None)
    if exists is None:
        return result
    todo: dict[type, dict[str, tuple[str, int]]] = defaultdict(dict)
    for (key, ttl), present in zip(chosen, exists, strict=True):
        if present:
            result["present"] += 1
            continue
        parsed = parse_row_key(key)  # None: not a row of a registered model
        if parsed is None:
            result["skipped"] += 1
            continue
        model, pk = parsed
        todo[model][pk] = (key, ttl)
    for model, wanted in todo.items():
        for obj in model._default_manager.filter(pk__in=list(wanted)):
            key, ttl = wanted.pop(str(obj.pk))
            if not cacheable(obj):  # e.g. a task still in flight (see Task.cacheable)
                result["skipped"] += 1
                continue
            c.set(key, obj, ttl=ttl, tags=[model_tag(model)], publish=False)
            result["loaded"] += 1
        result["missing"] += len(wanted)
    return result


def _exists(r, c, keys: list[str]) -> list[bool]:
    pipe = r.pipeline(transaction=False)
    for key in keys:
        pipe.exists(c.make_key(key))
    return [bool(x) for x in pipe.execute()]


_RULE_FIELDS = ("name", "model_label", "key_pattern", "ttl", "priority", "enabled")


@transaction.atomic
def warming_rule_create(*, name: str, model_label: str = "", key_pattern: str = "", ttl: int = 300,
                        priority: int = 0, enabled: bool = True) -> WarmingRule:
    rule = WarmingRule(name=name, model_label=model_label, key_pattern=key_pattern, ttl=ttl, priority=priority,
                       enabled=enabled)
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def warming_rule_update(*, rule: WarmingRule, **changes: Any) -> WarmingRule:
    unknown = set(changes) - set(_RULE_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(rule, field, value)
    rule.full_clean()
    rule.save(update_fields=[*changes, "updated_at"])
    return rule


@transaction.atomic
def warming_rule_delete(*, rule: WarmingRule) -> None:
    rule.delete()
