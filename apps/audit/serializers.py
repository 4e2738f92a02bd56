from auditlog.models import LogEntry
from rest_framework import serializers

from apps.audit.models import AccessLog, AuditEntry


class AccessLogSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", default=None, read_only=True)

    class Meta:
        model = AccessLog
        fields = ["id", "timestamp", "user", "username", "key_prefix", "tenant", "method", "path", "status_code",
                  "error_code", "hits", "duration_ms", "remote_addr", "request_id"]


class AuditEntrySerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", default=None, read_only=True)
    actor_key = serializers.SerializerMethodField(help_text="the acting API key's prefix")

    class Meta:
        model = AuditEntry
        fields = ["id", "timestamp", "tenant", "actor_kind", "actor", "actor_key", "actor_user", "action",
                  "target_type", "target_id", "target_repr", "data", "remote_addr", "request_id"]

    def get_actor_key(self, entry: AuditEntry) -> str | None:
        """The key's prefix: its id is `prefix.hash`, and the hash is nothing a reader needs."""
        return entry.actor_key_id.partition(".")[0] if entry.actor_key_id else None


class ChangeSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="content_type.model", read_only=True)
    app = serializers.CharField(source="content_type.app_label", read_only=True)
    action = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField()

    class Meta:
        model = LogEntry
        fields = ["id", "timestamp", "app", "model", "object_pk", "object_repr", "action", "changes", "actor",
                  "remote_addr"]

    def get_actor(self, entry: LogEntry) -> str | None:
        """The user's name, or the label stamped by the audit app (an API key, the system)."""
        if entry.actor is not None:
            return entry.actor.username
        return (entry.additional_data or {}).get("actor") if isinstance(entry.additional_data, dict) else None
