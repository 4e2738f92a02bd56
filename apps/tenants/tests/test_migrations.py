"""The `default` tenant's data migration runs backwards and forwards.

Its functions are run on the real registry inside the test's transaction (rolled back after): a
`MigrationExecutor` run needs a transactional test, whose flush would drop the migrated
`default` row for every test after it.
"""

from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from apps.tenants.models import Tenant

pytestmark = pytest.mark.django_db

migration = import_module("apps.tenants.migrations.0002_default_tenant")


def test_default_tenant_migration_is_reversible():
    editor = SimpleNamespace(connection=connection)
    assert migration.Migration.operations[0].reversible
    assert Tenant.objects.filter(slug="default").exists()
    migration.delete_default(apps, editor)
    assert not Tenant.objects.filter(slug="default").exists()
    migration.create_default(apps, editor)
    migration.create_default(apps, editor)  # idempotent
    assert Tenant.objects.filter(slug="default").count() == 1
