"""Each agent namespace becomes a tenant, and each agent goes into its namespace's tenant.

`namespace` was the tenant concept before tenants existed (a free string, default "default"), so
the two are reconciled into one: a namespace that is a valid tenant slug becomes (or joins) the
tenant of that slug (`default` is the tenant made by tenants.0002); any other string gets a
tenant whose slug is derived from it (lower case, runs of other characters as "-", made unique
with a numeric suffix) and whose name is the namespace itself. Distinct namespaces always land in
distinct tenants, so the unique (namespace, name) rule becomes unique (tenant, name) unchanged.

Reversible: going back only clears `agent.tenant` (the namespace column is untouched here). The
tenants it made are left in place: they are ordinary rows an operator may already have given
keys to, and running this again finds them by slug instead of making new ones.
"""

import re

from django.db import migrations

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}\Z")


def derived_slug(namespace: str, taken: set[str]) -> str:
    """A valid, untaken slug for a namespace that is not one itself (`Team A` -> `team-a`)."""
    base = re.sub(r"[^a-z0-9]+", "-", namespace.lower()).strip("-")[:56] or "namespace"
    if len(base) < 2:
        base = f"ns-{base}"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def namespaces_to_tenants(apps, schema_editor):
    db = schema_editor.connection.alias
    Tenant = apps.get_model("tenants", "Tenant")
    Agent = apps.get_model("agents", "Agent")
    taken = set(Tenant.objects.using(db).values_list("slug", flat=True))
    namespaces = sorted(Agent.objects.using(db).filter(tenant__isnull=True).values_list("namespace", flat=True)
                        .distinct())
    valid = [ns for ns in namespaces if SLUG.match(ns)]
    taken |= set(valid)  # a namespace that is a slug keeps it: derived slugs must not take it first
    for namespace in valid + [ns for ns in namespaces if not SLUG.match(ns)]:
        if SLUG.match(namespace):
            tenant, _ = Tenant.objects.using(db).get_or_create(slug=namespace, defaults={"name": namespace})
        else:
            slug = derived_slug(namespace, taken)
            taken.add(slug)
            tenant = Tenant.objects.using(db).create(slug=slug, name=namespace[:200])
        Agent.objects.using(db).filter(namespace=namespace, tenant__isnull=True).update(tenant=tenant)


def clear_tenants(apps, schema_editor):
    apps.get_model("agents", "Agent").objects.using(schema_editor.connection.alias).update(tenant=None)


class Migration(migrations.Migration):
    dependencies = [("agents", "0002_agent_tenant")]

    operations = [migrations.RunPython(namespaces_to_tenants, clear_tenants)]
