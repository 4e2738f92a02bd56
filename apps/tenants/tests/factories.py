"""factory-boy factories for the tenants app; keys are made through the service so they are real keys."""

from __future__ import annotations

from typing import Any

import factory

from apps.tenants.models import ApiKey, Tenant
from apps.tenants.scopes import Scope
from apps.tenants.services import api_key_create


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """`ApiKeyFactory(scopes=[...])`; the raw key is on the instance as `.raw` (as a client would hold it)."""

    class Meta:
        model = ApiKey

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"key-{n}")
    scopes = factory.LazyFunction(lambda: [Scope.AGENTS_READ])
    expiry_date = None

    @classmethod
    def _create(cls, model_class: type[ApiKey], *args: Any, **kwargs: Any) -> ApiKey:
        api_key, raw = api_key_create(**kwargs)
        api_key.raw = raw
        return api_key
