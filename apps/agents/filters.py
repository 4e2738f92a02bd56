"""Query parameters of the agent list: `?type=`, `?status=`, `?namespace=`, `?capability=<key>`."""

from __future__ import annotations

import django_filters

from apps.agents.models import Agent, AgentStatus


class AgentFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(field_name="type")
    status = django_filters.ChoiceFilter(field_name="status", choices=AgentStatus.choices)
    namespace = django_filters.CharFilter(field_name="namespace")
    capability = django_filters.CharFilter(
        field_name="capabilities", lookup_expr="has_key",
        help_text="agents whose capabilities object has this key",
    )

    class Meta:
        model = Agent
        fields = ["type", "status", "namespace", "capability"]
