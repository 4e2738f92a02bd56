"""The reads of the schema app: one record by id (a clear 404 for a bad or unknown id) and counts."""

from __future__ import annotations

import uuid

import pytest

from apps.common.errors import NotFound
from apps.migrations import selectors
from apps.migrations.models import RunStatus
from apps.migrations.tests.factories import BackupFactory, MaintenanceRunFactory

pytestmark = pytest.mark.django_db


def test_backup_get_accepts_the_id_as_uuid_or_text():
    backup = BackupFactory()
    assert selectors.backup_get(backup_id=backup.pk) == backup
    assert selectors.backup_get(backup_id=str(backup.pk).upper()) == backup


@pytest.mark.parametrize("bad", ["not-a-uuid", str(uuid.UUID(int=0)), None])
def test_backup_get_names_the_missing_backup(bad):
    with pytest.raises(NotFound, match=f"backup {bad!r} does not exist") as exc:
        selectors.backup_get(backup_id=bad)
    assert exc.value.code == "backup_not_found"


def test_maintenance_run_get():
    run = MaintenanceRunFactory()
    assert selectors.maintenance_run_get(run_id=str(run.pk)) == run
    with pytest.raises(NotFound, match="maintenance run 'nope' does not exist") as exc:
        selectors.maintenance_run_get(run_id="nope")
    assert exc.value.code == "run_not_found"


def test_backup_status_counts():
    BackupFactory.create_batch(2)
    BackupFactory(status=RunStatus.FAILED)
    assert selectors.backup_status_counts() == {RunStatus.SUCCEEDED: 2, RunStatus.FAILED: 1}
