"""manage.py create_tenant / create_api_key / revoke_api_key / rotate_api_key: the key printed once, bad input a
CommandError naming it with nothing written."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.tenants.models import ApiKey, Tenant
from apps.tenants.tests.conftest import key_client
from apps.tenants.tests.factories import ApiKeyFactory, TenantFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("apps.tenants.tests.urls")]

PROBE = "/test-tenants/probe/"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_create_tenant():
    assert "tenant acme created" in run("create_tenant", "acme", "--name", "Acme", "--max-collections", "5",
                                        "--request-rate", "100/minute")
    tenant = Tenant.objects.get(slug="acme")
    assert (tenant.name, tenant.max_collections, tenant.request_rate, tenant.active) == ("Acme", 5, "100/minute",
                                                                                         True)


@pytest.mark.parametrize(("slug", "message"), [("Bad Slug", "slug: slug must be"), ("default", "already exists")])
def test_create_tenant_bad_slug(slug, message):
    before = Tenant.objects.count()
    with pytest.raises(CommandError, match=message):
        run("create_tenant", slug)
    assert Tenant.objects.count() == before


def test_create_api_key_prints_a_working_key_once():
    tenant = TenantFactory(slug="acme")
    raw = run("create_api_key", "--tenant", "acme", "--scopes", "agents:read,agents:write", "--expires",
              "2999-01-01", "--name", "crawler")
    api_key = ApiKey.objects.get()
    assert raw.startswith(api_key.prefix + ".") and "\n" not in raw
    assert (api_key.tenant, api_key.name, api_key.scopes) == (tenant, "crawler", ["agents:read", "agents:write"])
    assert api_key.expiry_date.isoformat() == "2999-01-01T00:00:00+00:00"
    assert key_client(raw).post(PROBE).status_code == 201


@pytest.mark.parametrize(("args", "message"), [
    (["--tenant", "acme", "--scopes", "agents:read,agents:rule"], "unknown scope 'agents:rule'"),
    (["--tenant", "acme", "--scopes", ","], "give at least one scope"),
    (["--tenant", "acme", "--scopes", "agents:read", "--expires", "2001-01-01"], "2001-01-01T00:00:00+00:00 is in "
                                                                                 "the past"),
    (["--tenant", "acme", "--scopes", "agents:read", "--expires", "soon"], "--expires: 'soon' is not a date"),
    (["--tenant", "nope", "--scopes", "agents:read"], "tenant 'nope' does not exist"),
    (["--tenant", "sleepy", "--scopes", "agents:read"], "tenant 'sleepy' is inactive"),
    (["--tenant", "acme", "--scopes", "agents:read", "--name", "x" * 51], "name: give a name of 1 to 50"),
])
def test_create_api_key_bad_input_writes_nothing(args, message):
    TenantFactory(slug="acme")
    TenantFactory(slug="sleepy", active=False)
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_api_key", *args)
    assert not ApiKey.objects.exists()


def test_revoke_api_key():
    api_key = ApiKeyFactory()
    assert "revoked" in run("revoke_api_key", api_key.prefix)
    assert key_client(api_key.raw).get(PROBE).status_code == 401
    assert "was already revoked" in run("revoke_api_key", api_key.prefix)
    with pytest.raises(CommandError, match="API key 'nope' does not exist"):
        run("revoke_api_key", "nope")


def test_rotate_api_key_overlaps_until_the_old_is_revoked():
    old = ApiKeyFactory(scopes=["agents:read"])
    raw = run("rotate_api_key", old.prefix)
    new = ApiKey.objects.get(rotated_from=old)
    assert raw.startswith(new.prefix + ".")
    assert key_client(raw).get(PROBE).status_code == 200
    assert key_client(old.raw).get(PROBE).status_code == 200
    run("revoke_api_key", old.prefix)
    assert key_client(old.raw).get(PROBE).status_code == 401
    assert key_client(raw).get(PROBE).status_code == 200
    with pytest.raises(CommandError, match="is revoked; create a new key"):
        run("rotate_api_key", old.prefix)
