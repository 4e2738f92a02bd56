"""Each distinct `Collection.tenant` string becomes a tenant, and each collection goes into it.

As agents.0003 did for namespaces: a string that is a valid tenant slug becomes (or joins) the
tenant of that slug (`default` is the tenant made by tenants.0002); any other string gets a tenant
whose slug is derived from it (lower case, runs of other characters as "-", unique with a numeric
suffix) and whose name is the string. Distinct strings land in distinct tenants, so unique
(tenant, name) holds over the foreign key unchanged (0007).

Reversible: going back only clears the foreign key (`tenant_name` is untouched here). Tenants it
made stay: they are ordinary rows an operator may already have given keys to, and running this
again finds them by slug.
"""

import re

from django.db import migrations

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}\Z")


def derived_slug(value: str, taken: set[str]) -> str:
    """A valid, untaken slug for a tenant string that is not one itself (`Team_A` -> `team-a`)."""
    base = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:56] or "tenant"
    if len(base) < 2:
        base = f"t-{base}"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def strings_to_tenants(apps, schema_editor):
    db = schema_editor.connection.alias
    Tenant = apps.get_model("tenants", "Tenant")
    Collection = apps.get_model("embeddings", "Collection")
    taken = set(Tenant.objects.using(db).values_list("slug", flat=True))
    values = sorted(Collection.objects.using(db).filter(tenant__isnull=True).values_list("tenant_name", flat=True)
                    .distinct())
    valid = [v for v in values if SLUG.match(v)]
    taken |= set(valid)  # a string that is a slug keeps it: derived slugs must not take it first
    for value in valid + [v for v in values if not SLUG.match(v)]:
        if SLUG.match(value):
            tenant, _ = Tenant.objects.using(db).get_or_create(slug=value, defaults={"name": value})
        else:
            slug = derived_slug(value, taken)
            taken.add(slug)
            tenant = Tenant.objects.using(db).create(slug=slug, name=value[:200])
        Collection.objects.using(db).filter(tenant_name=value, tenant__isnull=True).update(tenant=tenant)


def clear_tenants(apps, schema_editor):
    apps.get_model("embeddings", "Collection").objects.using(schema_editor.connection.alias).update(tenant=None)


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0005_collection_tenant_fk")]

    operations = [migrations.RunPython(strings_to_tenants, clear_tenants)]
