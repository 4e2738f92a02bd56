"""Query parameters of the agent list: `?type=`, `?status=`, `?namespace=`, `?capability=<key>`.

The list is scoped to the caller's tenant before any of these apply; `namespace` (deprecated)
now matches the tenant's slug, so it can only narrow an operator's list across tenants.
"""

from __future__ import annotations

import django_filters

from apps.agents.models import Agent, AgentStatus


class AgentFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(field_name="type")
    status = django_filters.ChoiceFilter(field_name="status", choices=AgentStatus.choices)
    namespace = django_filters.CharFilter(field_name="tenant__slug", help_text="deprecated: the tenant's slug")
    capability = django_filters.CharFilter(
        field_name="capabilities", lookup_expr="has_key",
        help_text="agents whose capabilities object has this key",
    )

    class Meta:
        model = Agent
        fields = ["type", "status", "namespace", "capability"]
