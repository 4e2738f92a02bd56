"""Every app of the project is installed, every model's table exists with every column the model maps,
and the models match the migrations (nothing left for makemigrations)."""

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db

# Apps with a models module: test modules register throw-away models too (Django's cache suite's
# Poll, under the platform app), which no migration makes.
APPS = sorted(c.label for c in apps.get_app_configs() if c.name.startswith("apps.") and c.models_module is not None)


def test_the_domain_apps_are_all_here():
    assert {"agents", "tasks", "embeddings", "cache", "schema", "audit", "tenants"} <= set(APPS)


@pytest.mark.parametrize("label", APPS)
def test_every_model_has_its_table_with_every_column(label: str):
    with connection.cursor() as cur:
        tables = set(connection.introspection.table_names(cur))
        for model in apps.get_app_config(label).get_models():
            table = model._meta.db_table
            assert table in tables, f"{model.__name__}: no table {table}"
            columns = {c.name for c in connection.introspection.get_table_description(cur, table)}
            missing = {f.column for f in model._meta.concrete_fields} - columns
            assert not missing, f"{table} lacks {sorted(missing)}"


@pytest.mark.parametrize("label", APPS)
def test_the_models_match_the_migrations(label: str):
    call_command("makemigrations", label, "--check", "--dry-run", verbosity=0)  # SystemExit(1) if not
