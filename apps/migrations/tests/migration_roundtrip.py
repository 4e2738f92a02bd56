"""Run as a separate process on a scratch database (DATABASE_URL): migrate every app forward, fill
the tables with data (each app's factories), migrate every app back to zero, and forward again.

A separate process because migrating to zero drops every table, including the ones the test
session's own connections and caches rely on. Prints one JSON line with what happened.
"""

from __future__ import annotations

import importlib
import json
import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
    import django

    django.setup()
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    labels = [c.label for c in apps.get_app_configs() if c.name.startswith("apps.") and c.models_module]
    call_command("migrate", verbosity=0, interactive=False)
    created: dict[str, int] = {}
    failed: dict[str, str] = {}
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        try:
            factories = importlib.import_module(f"{config.name}.tests.factories")
        except ImportError:
            continue
        for model in config.get_models():
            factory = getattr(factories, f"{model.__name__}Factory", None)
            if factory is None:
                continue
            try:
                factory.create_batch(3)
                created[model._meta.label] = model.objects.count()
            except Exception as exc:  # noqa: BLE001 - another app's factory; reported, not fatal
                failed[model._meta.label] = str(exc)[:200]
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="survivor", password="x")
    for label in reversed(labels):
        call_command("migrate", label, "zero", verbosity=0, interactive=False)
    zero_tables = [t for t in connection.introspection.table_names() if t.split("_", 1)[0] in labels]
    call_command("migrate", verbosity=0, interactive=False)
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    print(json.dumps({
        "labels": labels, "created": created, "factory_failures": failed, "tables_left_at_zero": zero_tables,
        "pending_after": [m.name for m, _ in pending],
        "survivor": get_user_model().objects.filter(username="survivor").exists(),
        "project_tables": sorted(t for t in connection.introspection.table_names() if t.split("_", 1)[0] in labels),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
