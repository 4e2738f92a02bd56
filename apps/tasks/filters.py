"""Query parameters of the task history: agent, type, status, created range."""

from __future__ import annotations

import django_filters

from apps.common.validation import validate_datetime
from apps.tasks.models import Task, TaskStatus


class TaskFilter(django_filters.FilterSet):
    agent = django_filters.UUIDFilter(field_name="agent_id")
    type = django_filters.CharFilter(field_name="type")
    status = django_filters.ChoiceFilter(field_name="status", choices=TaskStatus.choices)
    # validate_datetime: an offset PostgreSQL refuses (+18:54) is a 400 naming the parameter, not a DataError
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte",
                                                     validators=[validate_datetime])
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt",
                                                      validators=[validate_datetime])

    class Meta:
        model = Task
        fields = ["agent", "type", "status", "created_after", "created_before"]
