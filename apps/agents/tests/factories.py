"""factory-boy factories for the agents app."""

import factory

from apps.agents.models import Agent


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    name = factory.Sequence(lambda n: f"agent-{n}")
    type = "researcher"
    capabilities = factory.LazyFunction(lambda: {"search": True, "languages": ["en"]})
    status = "active"
