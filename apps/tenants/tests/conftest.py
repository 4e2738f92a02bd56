"""Clients for the tenants app's tests: an API client per API key, and the operator's token client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from apps.tenants.tests.factories import ApiKeyFactory


def key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def make_key_client() -> Callable[..., tuple[APIClient, object]]:
    """`client, key = make_key_client(scopes=[...], tenant=...)`."""
    def make(**kwargs: object) -> tuple[APIClient, object]:
        api_key = ApiKeyFactory(**kwargs)
        return key_client(api_key.raw), api_key
    return make
