"""API contract: read-only lists for services, operator-only actions answering 202 with what to poll."""

from __future__ import annotations

import pytest

from apps.migrations.models import Backup, MaintenanceRun, RunStatus
from apps.migrations.tests.factories import BackupFactory, MaintenanceRunFactory, MigrationRunFactory

pytestmark = pytest.mark.django_db


def test_lists_are_readable_by_authenticated_users(api_client):
    BackupFactory(sha256="ab" * 32)
    MaintenanceRunFactory(report={"actions": []})
    MigrationRunFactory(plan=[{"app": "schema", "name": "0002", "backwards": False}])
    for url in ("/api/v1/backups/", "/api/v1/maintenance-runs/", "/api/v1/migration-runs/"):
        response = api_client.get(url)
        assert response.status_code == 200, url
        assert response.json()["count"] == 1
    backup = api_client.get("/api/v1/backups/?kind=daily").json()["results"][0]
    assert backup["sha256"] == "ab" * 32 and backup["status"] == "succeeded"


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/v1/backups/").status_code in (401, 403)


@pytest.mark.parametrize("url", ["/api/v1/backups/", "/api/v1/backups/start/", "/api/v1/maintenance-runs/start/"])
def test_non_operators_get_403_and_nothing_is_created(api_client, url, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Backup.objects.exists() and not MaintenanceRun.objects.exists()
    assert callbacks == []


def test_non_operators_cannot_verify(api_client):
    backup = BackupFactory()
    assert api_client.post(f"/api/v1/backups/{backup.pk}/verify/").status_code == 403


@pytest.mark.parametrize("url", ["/api/v1/backups/", "/api/v1/backups/start/"])
def test_operator_starts_a_backup_enqueued_after_commit(operator_client, url, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(url, {"kind": "manual"}, format="json")
    assert response.status_code == 202
    body = response.json()
    backup = Backup.objects.get(pk=body["run_id"])
    assert body["task_id"] == backup.task_id and backup.status == RunStatus.PENDING
    assert body["run_url"].endswith(f"/api/v1/backups/{backup.pk}/")
    assert backup.requested_by.username == "operator" and backup.actor == "operator"
    assert len(callbacks) == 1  # sent to the broker only once the record is committed


def test_operator_starts_maintenance_with_options(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post("/api/v1/maintenance-runs/start/",
                                        {"vacuum": False, "dry_run": True, "tables": ["auth_user"]}, format="json")
    assert response.status_code == 202
    run = MaintenanceRun.objects.get(pk=response.json()["run_id"])
    assert run.options == {"analyze": True, "vacuum": False, "reindex": True, "dry_run": True, "tables": ["auth_user"]}
    assert run.dry_run and run.task_id == response.json()["task_id"] and len(callbacks) == 1


def test_bad_maintenance_options_name_the_problem(operator_client):
    response = operator_client.post("/api/v1/maintenance-runs/start/", {"tables": ["auth_user", "nope"]},
                                    format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "tables[1]: no table named 'nope'"
    response = operator_client.post("/api/v1/backups/", {"kind": "hourly"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("kind:")
    assert not MaintenanceRun.objects.exists() and not Backup.objects.exists()


def test_verify_unknown_or_unfinished_backups(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post("/api/v1/backups/00000000-0000-0000-0000-000000000000/verify/")
        assert response.status_code == 404
        assert "does not exist" in response.json()["error"]["message"]
        failed = BackupFactory(status=RunStatus.FAILED)
        response = operator_client.post(f"/api/v1/backups/{failed.pk}/verify/")
        assert response.status_code == 400 and "is failed" in response.json()["error"]["message"]
    assert callbacks == []
    failed.refresh_from_db()
    assert failed.verified_at is None


def test_operator_enqueues_a_verification(operator_client, django_capture_on_commit_callbacks):
    backup = BackupFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator_client.post(f"/api/v1/backups/{backup.pk}/verify/")
    assert response.status_code == 202 and response.json()["run_id"] == str(backup.pk)
    assert response.json()["task_id"] and len(callbacks) == 1


def test_admin_pages_render_the_reports(admin_client):
    backup = BackupFactory(verification={"ok": True, "mismatches": [], "duration_seconds": 1.0,
                                         "tables": {"auth_user": {"expected_rows": 1, "restored_rows": 1, "ok": True,
                                                                  "checksum_ok": True}},
                                         "vectors": {}}, verification_ok=True)
    run = MaintenanceRunFactory(report={"actions": [{"action": "ANALYZE", "target": "auth_user", "executed": True,
                                                     "seconds": 0.01}], "tables": [], "indexes": [],
                                        "vector_indexes_before": []})
    migration = MigrationRunFactory(plan=[{"app": "schema", "name": "0002_x", "backwards": True, "operations": []}])
    page = admin_client.get(f"/admin/schema/backup/{backup.pk}/change/").content.decode()
    assert "rows restored" in page and "auth_user" in page
    page = admin_client.get(f"/admin/schema/maintenancerun/{run.pk}/change/").content.decode()
    assert "ANALYZE" in page and "Report (JSON)" in page
    page = admin_client.get(f"/admin/schema/migrationrun/{migration.pk}/change/").content.decode()
    assert "0002_x" in page and "revert" in page
    for model in ("backup", "maintenancerun", "migrationrun"):
        assert admin_client.get(f"/admin/schema/{model}/").status_code == 200


def test_admin_actions_enqueue_work(admin_client, django_capture_on_commit_callbacks):
    backup = BackupFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post("/admin/schema/backup/", {"action": "verify_selected",
                                                               "_selected_action": [str(backup.pk)]})
        assert response.status_code == 302
        admin_client.post("/admin/schema/maintenancerun/", {"action": "dry_run_now",
                                                            "_selected_action": [str(MaintenanceRunFactory().pk)]})
    assert len(callbacks) == 2
    assert MaintenanceRun.objects.filter(dry_run=True, status=RunStatus.PENDING).count() == 1
