"""Run as a separate process on a scratch database (DATABASE_URL): the namespace → tenant migrations
with data, forward, back and forward again. Prints one JSON line with what it found at each step.

A separate process because going back drops columns the test session's own models rely on.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agency.settings.test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    def migrate(*args: str) -> None:
        call_command("migrate", *args, verbosity=0, interactive=False)

    def rows() -> dict:
        with connection.cursor() as cur:
            cur.execute("SELECT slug, name FROM tenants_tenant ORDER BY slug")
            tenants = cur.fetchall()
            cur.execute("SELECT a.name, t.slug FROM agents_agent a LEFT JOIN tenants_tenant t ON t.id = a.tenant_id"
                        " ORDER BY a.name")
            agents = cur.fetchall()
            cur.execute("SELECT k.type, t.slug FROM tasks_task k LEFT JOIN tenants_tenant t ON t.id = k.tenant_id"
                        " ORDER BY k.type")
            tasks = cur.fetchall()
        return {"tenants": tenants, "agents": agents, "tasks": tasks}

    migrate("tasks", "0003_task_tenant")
    migrate("agents", "0002_agent_tenant")
    old = MigrationExecutor(connection).loader.project_state([("agents", "0002_agent_tenant"),
                                                              ("tasks", "0003_task_tenant")]).apps
    Agent, Task = old.get_model("agents", "Agent"), old.get_model("tasks", "Task")
    namespaces = {"a-default": "default", "a-acme": "acme", "a-team-space": "Team A", "a-team-slug": "team-a",
                  "a-short": "x"}
    agents = {name: Agent.objects.create(name=name, type="t", namespace=ns) for name, ns in namespaces.items()}
    Agent.objects.create(name="a-acme-2", type="t", namespace="acme")
    Task.objects.create(type="k-acme", agent=agents["a-acme"], data={})
    Task.objects.create(type="k-team-space", agent=agents["a-team-space"], data={})
    Task.objects.create(type="k-no-agent", data={})

    migrate()
    forward = rows()
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'tasks_claim_idx'")
        claim_index = cur.fetchone()[0]
    migrate("agents", "0002_agent_tenant")
    with connection.cursor() as cur:
        cur.execute("SELECT name, namespace, tenant_id FROM agents_agent ORDER BY name")
        back = cur.fetchall()
        cur.execute("SELECT count(*) FROM tasks_task WHERE tenant_id IS NULL")
        tasks_without_tenant = cur.fetchone()[0]
    migrate()
    print(json.dumps({"forward": forward, "claim_index": claim_index, "back": back,
                      "tasks_without_tenant_back": tasks_without_tenant, "again": rows()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
