"""Tenant and key services: validation naming the culprit, nothing written on bad input, keys only hashed."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.common.errors import ValidationFailed
from apps.tenants.models import ApiKey, Tenant
from apps.tenants.services import (
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    tenant_create,
    tenant_update,
)
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_the_migration_made_the_default_tenant():
    default = Tenant.objects.get(slug="default")
    assert default.active and default.max_collections is None and default.request_rate is None
    assert isinstance(default.pk, int)


def test_tenant_create_with_quotas():
    tenant = tenant_create(slug="acme-1", name="Acme", max_collections=3, max_embeddings=10_000,
                           max_pending_tasks=50, request_rate="600/minute")
    tenant.refresh_from_db()
    assert (tenant.slug, tenant.max_collections, tenant.request_rate) == ("acme-1", 3, "600/minute")


@pytest.mark.parametrize("slug", ["A-upper", "x", "-leading", "has space", "acme\n", "a" * 64, "ünï"])
def test_malformed_slug_is_refused_naming_it(slug):
    with pytest.raises(ValidationFailed, match="^slug: slug must be 2-63"):
        tenant_create(slug=slug)
    assert not Tenant.objects.exclude(slug="default").exists()


def test_taken_slug_is_refused():
    tenant_create(slug="acme")
    with pytest.raises(ValidationFailed, match="^slug: Tenant with this Slug already exists"):
        tenant_create(slug="acme", name="again")
    assert Tenant.objects.filter(slug="acme").count() == 1


@pytest.mark.parametrize("rate", ["10/mop", "0/minute", "ten/minute", "10"])
def test_bad_request_rate_is_refused(rate):
    with pytest.raises(ValidationFailed, match="^request_rate: request rate"):
        tenant_create(slug="acme", request_rate=rate)


def test_database_refuses_a_bad_slug_even_through_update():
    tenant = TenantFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(slug="Not A Slug")


def test_tenant_update_changes_only_given_fields():
    tenant = TenantFactory(max_collections=1)
    tenant_update(tenant=tenant, request_rate="5/second")
    tenant.refresh_from_db()
    assert (tenant.max_collections, tenant.request_rate) == (1, "5/second")
    with pytest.raises(ValidationFailed, match="max_collections"):
        tenant_update(tenant=tenant, max_collections=-1)


def test_key_is_stored_only_hashed():
    tenant = TenantFactory()
    api_key, raw = api_key_create(tenant=tenant, name="svc", scopes=["agents:read"])
    prefix, secret = raw.split(".")
    assert prefix == api_key.prefix and len(secret) == 32
    with connection.cursor() as cur:
        cur.execute("SELECT t::text FROM tenants_apikey t WHERE prefix = %s", [prefix])
        (row,) = cur.fetchone()
    assert prefix in row  # the public part is there to find the row…
    assert secret not in row and raw not in row  # …the secret is not, in any column
    assert "sha512$$" in row


def test_unknown_scope_is_refused_naming_it_and_nothing_is_written():
    tenant = TenantFactory()
    with pytest.raises(ValidationFailed, match="unknown scope 'agents:delete', 'root'") as exc:
        api_key_create(tenant=tenant, name="svc", scopes=["agents:read", "agents:delete", "root"])
    assert exc.value.code == "unknown_scope"
    assert not ApiKey.objects.exists()


def test_no_scope_is_refused():
    with pytest.raises(ValidationFailed, match="at least one scope"):
        api_key_create(tenant=TenantFactory(), name="svc", scopes=[])


def test_expiry_in_the_past_is_refused():
    with pytest.raises(ValidationFailed, match="expiry_date: .* is in the past"):
        api_key_create(tenant=TenantFactory(), name="svc", scopes=["agents:read"],
                       expiry_date=timezone.now() - timedelta(seconds=1))
    assert not ApiKey.objects.exists()


def test_inactive_tenant_gets_no_key():
    tenant = TenantFactory(active=False)
    with pytest.raises(ValidationFailed, match=f"tenant {tenant.slug!r} is inactive"):
        api_key_create(tenant=tenant, name="svc", scopes=["agents:read"])
    assert not ApiKey.objects.exists()


def test_database_refuses_unknown_scopes_even_through_update():
    api_key = ApiKeyFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk).update(scopes=["agents:read", "root"])


def test_revoke_is_final_and_idempotent():
    api_key = ApiKeyFactory()
    revoked = api_key_revoke(api_key=api_key)
    assert revoked.revoked and revoked.revoked_at is not None
    again = api_key_revoke(api_key=api_key)
    assert again.revoked_at == revoked.revoked_at


def test_rotate_keeps_tenant_name_scopes_and_expiry_and_records_the_old_key():
    expiry = timezone.now() + timedelta(days=30)
    old = ApiKeyFactory(scopes=["tasks:work", "agents:read"], expiry_date=expiry)
    new, raw = api_key_rotate(api_key=old)
    assert new.pk != old.pk and raw.startswith(new.prefix + ".")
    assert (new.tenant_id, new.name, new.scopes, new.expiry_date) == (old.tenant_id, old.name, old.scopes, expiry)
    assert new.rotated_from_id == old.pk and list(old.rotations.all()) == [new]
    old.refresh_from_db()
    assert not old.revoked  # the overlap: revoked only when the operator says so


def test_revoked_key_cannot_be_rotated():
    old = ApiKeyFactory()
    api_key_revoke(api_key=old)
    with pytest.raises(ValidationFailed, match="is revoked"):
        api_key_rotate(api_key=old)
    assert ApiKey.objects.count() == 1
