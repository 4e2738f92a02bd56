from auditlog.models import LogEntry
from rest_framework import serializers

from apps.audit.models import AccessLog


class AccessLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccessLog
        fields = ["id", "timestamp", "user", "username", "method", "path", "status_code", "duration_ms",
                  "remote_addr", "request_id"]


class ChangeSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="content_type.model", read_only=True)
    app = serializers.CharField(source="content_type.app_label", read_only=True)
    action = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = LogEntry
        fields = ["id", "timestamp", "app", "model", "object_pk", "object_repr", "action", "changes", "actor",
                  "remote_addr"]
