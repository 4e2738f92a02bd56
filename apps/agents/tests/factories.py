"""factory-boy factories for the agents app (rows go into the `default` tenant unless one is given)."""

import factory

from apps.agents.models import Agent
from apps.tenants.models import Tenant


def default_tenant() -> Tenant:
    return Tenant.objects.get(slug="default")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    tenant = factory.LazyFunction(default_tenant)
    name = factory.Sequence(lambda n: f"agent-{n}")
    type = "researcher"
    capabilities = factory.LazyFunction(lambda: {"search": True, "languages": ["en"]})
    status = "active"
