"""DRF authentication for `Authorization: Api-Key <key>` (djangorestframework-api-key's header).

The library ships a permission class (`HasAPIKey`), which says yes or no but sets no user; the
API needs to know *who* calls (tenant, scopes), so this is an authentication class: it sets
`request.user` to an `ApiKeyPrincipal` and `request.auth` to the same principal's key id.

Every request reads the key's row (one prepared statement, `selectors.api_key_lookup`): revoked,
expired, or belonging to an inactive tenant is a 401 from the commit on, also when the row was
changed by `QuerySet.update()` or raw SQL, which signals never see. A header in another scheme
(`Token …`, none) is left to the next authentication class.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework_api_key.permissions import KeyParser

from apps.tenants.principals import ApiKeyPrincipal
from apps.tenants.selectors import api_key_lookup
from apps.tenants.services import api_key_mark_used


class ApiKeyAuthentication(BaseAuthentication):
    """`Api-Key <prefix.secret>` → (ApiKeyPrincipal, key id); 401 naming why for a known key that is not usable."""

    keyword = KeyParser.keyword
    key_parser = KeyParser()

    def authenticate(self, request: Any) -> tuple[ApiKeyPrincipal, str] | None:
        raw = self.key_parser.get(request)
        if raw is None:
            return None
        state = api_key_lookup(raw.strip())
        if state is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        principal = state.principal
        # Reasons are told only after the secret matched: they are the key holder's business.
        if state.revoked:
            raise exceptions.AuthenticationFailed(f"API key {principal.prefix!r} is revoked.")
        if state.expired:
            raise exceptions.AuthenticationFailed(f"API key {principal.prefix!r} has expired.")
        if not state.tenant_active:
            raise exceptions.AuthenticationFailed(f"Tenant {principal.tenant_slug!r} is inactive.")
        if state.touch_due:
            api_key_mark_used(key_id=principal.key_id)
        return principal, principal.key_id

    def authenticate_header(self, request: Any) -> str:
        """Makes DRF answer 401 (with WWW-Authenticate), not 403, to an unauthenticated request."""
        return self.keyword
