from __future__ import annotations

from rest_framework import serializers

from apps.migrations.models import Backup, MaintenanceRun, MigrationRun

RUN_FIELDS = ["id", "status", "actor", "requested_by", "task_id", "attempts", "started_at", "finished_at",
              "duration_seconds", "error", "created_at", "updated_at"]


class BackupSerializer(serializers.ModelSerializer):
    requested_by = serializers.StringRelatedField()

    class Meta:
        model = Backup
        fields = [*RUN_FIELDS, "kind", "database", "file_path", "size_bytes", "sha256", "server_version",
                  "pg_dump_version", "expired_at", "verified_at", "verification_ok", "verification"]
        read_only_fields = fields


class MaintenanceRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.StringRelatedField()

    class Meta:
        model = MaintenanceRun
        fields = [*RUN_FIELDS, "options", "dry_run", "report"]
        read_only_fields = fields


class MigrationRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.StringRelatedField()

    class Meta:
        model = MigrationRun
        fields = [*RUN_FIELDS, "action", "dry_run", "target", "plan", "output", "backup"]
        read_only_fields = fields


class BackupStartSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Backup.Kind.choices, default=Backup.Kind.MANUAL)


class MaintenanceStartSerializer(serializers.Serializer):
    analyze = serializers.BooleanField(default=True)
    vacuum = serializers.BooleanField(default=True)
    reindex = serializers.BooleanField(default=True)
    dry_run = serializers.BooleanField(default=False)
    tables = serializers.ListField(child=serializers.CharField(max_length=63), required=False, default=list,
                                   max_length=500)


class EnqueuedSerializer(serializers.Serializer):
    """The 202 answer: what to poll."""

    task_id = serializers.CharField()
    run_id = serializers.UUIDField()
    run_url = serializers.CharField()
