"""Admin for the schema app's records (backups, maintenance and migration runs): read-only, with
readable reports and actions that enqueue work."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from apps.common.admin import html_table, pretty_json
from apps.common.errors import DomainError
from apps.migrations.models import Backup, MaintenanceRun, MigrationRun
from apps.migrations.services import dispatch
from apps.migrations.services.backups import backup_delete


class ReadOnlyRunAdmin(admin.ModelAdmin):
    """Records are written by the services only; the admin shows them and starts new work."""

    date_hierarchy = "created_at"
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = set(self.exclude or ())
        return [f.name for f in self.model._meta.fields if f.name not in hidden] + list(self.extra_readonly)

    extra_readonly: tuple[str, ...] = ()


@admin.register(Backup)
class BackupAdmin(ReadOnlyRunAdmin):
    list_display = ("created_at", "kind", "status", "size", "duration_seconds", "verified_at", "verification_ok",
                    "expired_at", "actor")
    list_filter = ("kind", "status", "verification_ok")
    search_fields = ("id", "file_path", "sha256", "actor", "error")
    exclude = ("manifest", "verification")
    extra_readonly = ("size", "verification_report", "manifest_summary")
    actions = ("verify_selected", "back_up_now")

    def delete_model(self, request: HttpRequest, obj: Backup) -> None:
        backup_delete(backup_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Backup]) -> None:
        for backup in queryset:
            backup_delete(backup_id=backup.pk)

    @admin.display(description="size")
    def size(self, obj: Backup) -> str:
        return filesizeformat(obj.size_bytes) if obj.size_bytes is not None else "—"

    @admin.display(description="verification report")
    def verification_report(self, obj: Backup) -> str:
        report = obj.verification or {}
        if not report:
            return "not verified"
        rows = [[name, r["expected_rows"], r["restored_rows"], "✓" if r["ok"] else "✗"]
                for name, r in report.get("tables", {}).items()]
        vectors = [[name, r["expected_rows"], r["restored_rows"], "✓" if r["checksum_ok"] else "✗"]
                   for name, r in report.get("vectors", {}).items()]
        return format_html(
            "<p><b>{}</b> in {} s; mismatches: {}</p><h4>tables</h4>{}<h4>vectors per collection</h4>{}",
            "OK" if report.get("ok") else "FAILED", report.get("duration_seconds"),
            ", ".join(report.get("mismatches", [])) or "none",
            html_table(["table", "rows in dump", "rows restored", "checksum"], rows),
            html_table(["table.column[collection]", "rows in dump", "rows restored", "checksum"], vectors),
        )

    @admin.display(description="manifest")
    def manifest_summary(self, obj: Backup) -> str:
        return pretty_json(obj.manifest)

    @admin.action(description="Verify the selected backups (restore into a scratch database)")
    def verify_selected(self, request: HttpRequest, queryset: QuerySet[Backup]) -> None:
        for backup in queryset:
            try:
                dispatch.backup_verify_enqueue(backup_id=backup.pk, requested_by=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"verification of {backup} enqueued")

    @admin.action(description="Back up the database now")
    def back_up_now(self, request: HttpRequest, queryset: QuerySet[Backup]) -> None:
        backup = dispatch.backup_enqueue(requested_by=request.user)
        self.message_user(request, f"backup {backup.pk} enqueued (task {backup.task_id})")


@admin.register(MaintenanceRun)
class MaintenanceRunAdmin(ReadOnlyRunAdmin):
    list_display = ("created_at", "status", "dry_run", "duration_seconds", "actions_done", "attempts", "actor")
    list_filter = ("status", "dry_run")
    search_fields = ("id", "actor", "error")
    exclude = ("report",)
    extra_readonly = ("report_summary", "report_json")
    actions = ("run_now", "dry_run_now")

    @admin.display(description="actions")
    def actions_done(self, obj: MaintenanceRun) -> int:
        return len((obj.report or {}).get("actions", []))

    @admin.display(description="report")
    def report_summary(self, obj: MaintenanceRun) -> str:
        report = obj.report or {}
        actions = [[a["action"], a["target"], "yes" if a["executed"] else "planned", a["seconds"]]
                   for a in report.get("actions", [])]
        tables = [[t["table"], t["live_rows"], t["dead_rows"], t["dead_ratio"], filesizeformat(t["total_bytes"]),
                   filesizeformat(t["index_bytes"]), t["seq_scans"], t["index_scans"], t["last_vacuum"] or "—",
                   t["last_analyze"] or "—"] for t in report.get("tables", [])]
        indexes = [[i["index"], i["table"], i["method"], filesizeformat(i["bytes"]), i["scans"],
                    "unused" if i["unused"] else ""] for i in report.get("indexes", [])]
        vectors = [[v["index"], v["method"], filesizeformat(v["bytes"]), v["live_rows"], v["bloat_ratio"],
                    "yes" if v["reindex_due"] else "no"] for v in report.get("vector_indexes_before", [])]
        return format_html(
            "<h4>actions</h4>{}<h4>tables</h4>{}<h4>indexes</h4>{}<h4>vector indexes (before)</h4>{}",
            html_table(["action", "target", "executed", "seconds"], actions),
            html_table(["table", "live", "dead", "dead ratio", "total", "indexes", "seq scans", "index scans",
                        "last vacuum", "last analyze"], tables),
            html_table(["index", "table", "method", "size", "scans", ""], indexes),
            html_table(["index", "method", "size", "live rows", "bloat ratio", "reindex due"], vectors),
        )

    @admin.display(description="report (JSON)")
    def report_json(self, obj: MaintenanceRun) -> str:
        return pretty_json(obj.report)

    @admin.action(description="Run maintenance now (analyze, vacuum, reindex)")
    def run_now(self, request: HttpRequest, queryset: QuerySet[MaintenanceRun]) -> None:
        run = dispatch.maintenance_enqueue(requested_by=request.user)
        self.message_user(request, f"maintenance run {run.pk} enqueued (task {run.task_id})")

    @admin.action(description="Dry run: report what maintenance would do")
    def dry_run_now(self, request: HttpRequest, queryset: QuerySet[MaintenanceRun]) -> None:
        run = dispatch.maintenance_enqueue(requested_by=request.user, dry_run=True)
        self.message_user(request, f"maintenance dry run {run.pk} enqueued (task {run.task_id})")


@admin.register(MigrationRun)
class MigrationRunAdmin(ReadOnlyRunAdmin):
    list_display = ("created_at", "action", "dry_run", "target", "status", "steps", "duration_seconds", "backup",
                    "actor")
    list_filter = ("action", "status", "dry_run")
    search_fields = ("id", "actor", "target", "error", "output")
    exclude = ("plan",)
    extra_readonly = ("plan_table",)

    @admin.display(description="migrations")
    def steps(self, obj: MigrationRun) -> int:
        return len(obj.plan or [])

    @admin.display(description="plan")
    def plan_table(self, obj: MigrationRun) -> str:
        rows = [[p["app"], p["name"], "revert" if p["backwards"] else "apply", "; ".join(p.get("operations", []))]
                for p in obj.plan or []]
        return html_table(["app", "migration", "direction", "operations"], rows)
