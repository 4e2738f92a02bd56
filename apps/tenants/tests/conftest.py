"""Helpers for the tenants app's tests (the `make_key_client` fixture is in the root conftest)."""

from __future__ import annotations

from rest_framework.test import APIClient


def key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client
