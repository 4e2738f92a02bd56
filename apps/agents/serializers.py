"""Shapes of agents on the wire. Validation of types and choices here; rules live in services."""

from __future__ import annotations

from rest_framework import serializers

from apps.agents.models import Agent, AgentStatus
from apps.common.validation import JSONDocumentField
from apps.tenants.selectors import tenant_slug

NAMESPACE_HELP = ("Deprecated: the agent's tenant slug (the tenant replaced namespaces). On input it may only repeat "
                  "the caller's tenant; the tenant always comes from the credential.")


def validate_json_object(value, field: str):
    if not isinstance(value, dict):
        raise serializers.ValidationError(f"must be a JSON object, got {type(value).__name__}")
    return value


class AgentSerializer(serializers.ModelSerializer):
    tenant = serializers.SerializerMethodField(help_text="slug of the tenant the agent belongs to")
    namespace = serializers.SerializerMethodField(help_text=NAMESPACE_HELP)

    class Meta:
        model = Agent
        fields = ["id", "tenant", "namespace", "name", "type", "capabilities", "status", "version", "created_at",
                  "updated_at"]
        read_only_fields = fields

    def get_tenant(self, agent: Agent) -> str:
        return tenant_slug(agent.tenant_id)

    def get_namespace(self, agent: Agent) -> str:
        return tenant_slug(agent.tenant_id)


class AgentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    type = serializers.CharField(max_length=100)
    capabilities = JSONDocumentField(required=False, default=dict)
    status = serializers.ChoiceField(choices=AgentStatus.choices, required=False, default=AgentStatus.ACTIVE)
    namespace = serializers.CharField(max_length=100, required=False, help_text=NAMESPACE_HELP)

    def validate_capabilities(self, value):
        return validate_json_object(value, "capabilities")


class AgentUpdateSerializer(serializers.Serializer):
    """Partial update; `version` is the version the client read (or send If-Match instead)."""

    version = serializers.IntegerField(min_value=1, required=False)
    name = serializers.CharField(max_length=255, required=False)
    type = serializers.CharField(max_length=100, required=False)
    capabilities = JSONDocumentField(required=False)
    status = serializers.ChoiceField(choices=AgentStatus.choices, required=False)
    namespace = serializers.CharField(max_length=100, required=False, help_text=NAMESPACE_HELP)

    def validate_capabilities(self, value):
        return validate_json_object(value, "capabilities")


class AgentStatsSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField()
    tasks_by_status = serializers.DictField(child=serializers.IntegerField())
    total = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    mean_duration_seconds = serializers.FloatField(allow_null=True)
    p95_duration_seconds = serializers.FloatField(allow_null=True)
    last_activity = serializers.DateTimeField(allow_null=True)


class SessionSerializer(serializers.Serializer):
    data = JSONDocumentField()
    ttl = serializers.IntegerField(required=False, min_value=1)

    def validate_data(self, value):
        return validate_json_object(value, "data")


class SessionOutSerializer(serializers.Serializer):
    agent_id = serializers.UUIDField()
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    ttl = serializers.IntegerField(allow_null=True, help_text="seconds left")
