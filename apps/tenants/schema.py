"""How the OpenAPI schema describes the API-key credential (`Authorization: Api-Key <prefix.secret>`).

drf-spectacular documents only the authentication classes it has an extension for; without this
one the schema offered no way to send a key, and generated clients and schemathesis could only
call the API with a DRF token or a session. It is imported by apps.tenants.views, which the URL
configuration loads before any schema is generated.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """`apiKeyAuth`: the whole header value is `Api-Key <key>`, as the API's README shows."""

    target_class = "apps.tenants.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Api-Key <prefix.secret>`: a tenant's key with the operation's scope"}
