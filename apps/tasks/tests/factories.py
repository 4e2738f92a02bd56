"""factory-boy factories for the tasks app."""

import factory

from apps.agents.tests.factories import AgentFactory
from apps.tasks.models import Task


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    agent = factory.SubFactory(AgentFactory)
    type = "summarize"
    priority = 1
    data = factory.LazyFunction(lambda: {"text": "hello"})
