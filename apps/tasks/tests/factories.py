"""factory-boy factories for the tasks app: a task's tenant is its agent's (else `default`), as the service keeps it."""

import factory

from apps.agents.tests.factories import AgentFactory, default_tenant
from apps.tasks.models import Task


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    agent = factory.SubFactory(AgentFactory)
    tenant = factory.LazyAttribute(lambda o: o.agent.tenant if o.agent is not None else default_tenant())
    type = "summarize"
    priority = 1
    data = factory.LazyFunction(lambda: {"text": "hello"})
