"""Shapes of tasks on the wire; types and ranges are checked here, rules in the services."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from apps.common.validation import JSONDocumentField, validate_finite
from apps.tasks.models import Task
from apps.tenants.selectors import tenant_slug


def _object(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"must be a JSON object, got {type(value).__name__}")
    return value


class TaskSerializer(serializers.ModelSerializer):
    agent_id = serializers.UUIDField(read_only=True, allow_null=True)
    tenant = serializers.SerializerMethodField(help_text="slug of the tenant the task belongs to")

    class Meta:
        model = Task
        fields = [
            "id", "tenant", "agent_id", "type", "status", "priority", "data", "result", "error", "attempts",
            "max_attempts", "run_after", "lease_owner", "lease_expires_at", "started_at", "finished_at",
            "version", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_tenant(self, task: Task) -> str:
        return tenant_slug(task.tenant_id)


class TaskCreateSerializer(serializers.Serializer):
    type = serializers.CharField(max_length=100)
    data = JSONDocumentField(required=False, default=dict)
    priority = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False, default=1)
    agent_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    max_attempts = serializers.IntegerField(min_value=1, max_value=100, required=False, default=None)
    run_after = serializers.DateTimeField(required=False, default=None)

    def validate_data(self, value):
        return _object(value)


class TaskClaimSerializer(serializers.Serializer):
    worker_id = serializers.CharField(max_length=255)
    types = serializers.ListField(child=serializers.CharField(max_length=100), required=False, allow_empty=True)
    limit = serializers.IntegerField(min_value=1, required=False, default=1)
    lease_seconds = serializers.FloatField(min_value=1, max_value=86400, required=False, default=None,
                                          validators=[validate_finite])
    agent_id = serializers.UUIDField(required=False, allow_null=True, default=None)

    def validate_limit(self, value):
        if value > settings.AGENCY_TASK_MAX_CLAIM:
            raise serializers.ValidationError(f"at most {settings.AGENCY_TASK_MAX_CLAIM}")
        return value


class TaskClaimResponseSerializer(serializers.Serializer):
    tasks = TaskSerializer(many=True)


class TaskHeartbeatSerializer(serializers.Serializer):
    worker_id = serializers.CharField(max_length=255)
    lease_seconds = serializers.FloatField(min_value=1, max_value=86400, required=False, default=None,
                                          validators=[validate_finite])


class TaskCompleteSerializer(serializers.Serializer):
    worker_id = serializers.CharField(max_length=255)
    result = JSONDocumentField(required=False, default=dict)

    def validate_result(self, value):
        return _object(value)


class TaskFailSerializer(serializers.Serializer):
    worker_id = serializers.CharField(max_length=255)
    error = serializers.CharField(max_length=10_000, allow_blank=True)
    retryable = serializers.BooleanField(required=False, default=True)
