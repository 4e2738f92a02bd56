"""A client generated from the live schema works unpatched (issue #14).

openapi-python-client (pinned in requirements.txt) builds a package from /api/schema/ as a
service reads it with its API key; every generated module must import (before, every operation
with a body failed to), and the generated functions must talk to a live server: JSON bodies
(the schema offered form and multipart too), the statuses the server really answers (ingest's
201), the Error body on a refusal, and another tenant's collection a 404.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

pytestmark = pytest.mark.django_db(transaction=True)
PACKAGE = "agency_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def generated(tmp_path: Path, live_server, make_tenant_caller) -> Iterator[tuple[ModuleType, object, object]]:
    """(the generated package, tenant A's caller, tenant B's caller), the package built from the live schema."""
    a, b = make_tenant_caller("client-a"), make_tenant_caller("client-b")
    response = httpx.get(f"{live_server.url}/api/schema/?format=json",
                         headers={"Authorization": f"Api-Key {a.key.raw}"}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    schema = tmp_path / "schema.json"
    schema.write_bytes(response.content)
    config = tmp_path / "config.yaml"
    config.write_text(f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n")
    run = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none", "--config", str(config),
         "--output-path", str(tmp_path / PACKAGE), "--fail-on-warning"],
        capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE), a, b
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_every_generated_module_imports_and_resources_have_their_own_module(generated):
    package, _, _ = generated
    names = [m.name for m in pkgutil.walk_packages(package.__path__, f"{PACKAGE}.")]
    for name in names:
        importlib.import_module(name)
    api = {n.split(".")[2] for n in names if n.startswith(f"{PACKAGE}.api.") and n.count(".") >= 2}
    assert {"collections", "backups", "tasks", "agents", "keys"} <= api
    assert "api" not in api  # no catch-all module
    models = {n.rsplit(".", 1)[1] for n in names if n.startswith(f"{PACKAGE}.models.")}
    assert "error" in models and "ingest_request" in models and "ingest_request_request" not in models
    assert not [m for m in models if m[-4:] == "enum" and any(c.isdigit() for c in m)]  # no StatusF64Enum


def test_generated_client_creates_ingests_lists_and_searches_over_json(generated, live_server):
    package, a, b = generated
    mod = lambda name: importlib.import_module(f"{PACKAGE}.{name}")  # noqa: E731
    models, collections = mod("models"), "api.collections.api_v1_collections_"
    client = package.AuthenticatedClient(base_url=live_server.url, token=a.key.raw, prefix="Api-Key")

    created = mod(collections + "create").sync_detailed(
        client=client, body=models.CollectionRequest(name="docs", dimension=3, metric=models.MetricEnum.COSINE))
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.Collection) and created.parsed.dimension == 3

    items = [models.EmbeddingItemRequest(entity_type="doc", entity_id=str(i), vector=[1.0, float(i), 0.5])
             for i in range(2)]
    ingest = mod(collections + "embeddings_create")
    ingested = ingest.sync_detailed("docs", client=client, body=models.IngestRequest(items=items))
    assert ingested.status_code == 201, ingested.content
    assert ingested.parsed.inserted == 2 and ingested.parsed.updated == 0

    page = mod(collections + "embeddings_list").sync("docs", client=client, limit=1)
    assert isinstance(page, models.PaginatedEmbeddingList)
    assert page.count == 2 and len(page.results) == 1 and page.results[0].entity_type == "doc"

    found = mod(collections + "search_create").sync(
        "docs", client=client, body=models.SearchRequest(vector=[1.0, 1.0, 0.5], k=1))
    assert isinstance(found, models.SearchResponse) and found.results[0].entity_id == "1"

    refused = ingest.sync_detailed("docs", client=client, body=models.IngestRequest(
        items=[models.EmbeddingItemRequest(entity_type="doc", entity_id="x", vector=[1.0])]))
    assert refused.status_code == 400 and isinstance(refused.parsed, models.Error)
    assert "items[0].vector" in refused.parsed.error.message

    other = package.AuthenticatedClient(base_url=live_server.url, token=b.key.raw, prefix="Api-Key")
    hidden = mod(collections + "retrieve").sync_detailed("docs", client=other)
    assert hidden.status_code == 404 and hidden.parsed.error.code == "collection_not_found"
