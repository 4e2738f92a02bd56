"""Token authentication that resolves the token through the two-level cache instead of the DB.

DRF's ``TokenAuthentication`` runs one ``SELECT ... FROM authtoken_token JOIN auth_user`` per
request; for the cheap API calls (``/me/``, vector search) that query is a large share of the
fixed per-request cost. ``CachedTokenAuthentication`` keeps the token row (with its user) in the
cache service for ``AGENCY_AUTH_TOKEN_CACHE_SECONDS`` (default 60 s) under a sha256 of the key —
the raw secret is never a cache key — and the receivers below drop the entry when the token is
deleted or its user is saved (deactivated, made staff, password changed), so revocation takes
effect at once, not after the TTL. ``is_active`` is still checked on every request, and with Redis
down the cache service falls through to the database, so authentication keeps working.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from apps.platform.cache import cache_delete_many, cache_get_or_set

KEY_PREFIX = "auth:token:"


def token_cache_seconds() -> float:
    """How long a token lookup is cached; 0 (or less) turns the cache off (one query per request)."""
    return float(settings.AGENCY_AUTH_TOKEN_CACHE_SECONDS)


def token_cache_key(key: str) -> str:
    """The cache key for a token: a digest, so the secret never appears in Redis key listings."""
    return KEY_PREFIX + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class CachedTokenAuthentication(TokenAuthentication):
    """``TokenAuthentication`` with the key → (user, token) lookup served from the cache."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        def load() -> Token:
            try:
                token = self.get_model().objects.select_related("user").get(key=key)
            except self.get_model().DoesNotExist:
                # Raised, not cached: a bad key costs a query each time, like DRF's class.
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            # Keep the password hash out of Redis. None, not "": a stray save() of this copy then
            # fails on the NOT NULL column instead of silently blanking the user's password.
            token.user.password = None
            return token

        ttl = token_cache_seconds()
        token = cache_get_or_set(token_cache_key(key), load, ttl=ttl) if ttl > 0 else load()
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


def token_cache_forget(keys: list[str]) -> None:
    """Drop the cached entries of these token keys (on commit when inside a transaction)."""
    if keys:
        cache_delete_many([token_cache_key(k) for k in keys])


def on_token_deleted(sender: type[Token], instance: Token, **kwargs: Any) -> None:
    token_cache_forget([instance.key])


def on_user_saved(sender: type, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """A saved user may be deactivated or have changed rights: drop its cached token entries."""
    if created or instance.pk is None:
        return
    token_cache_forget(list(Token.objects.filter(user_id=instance.pk).values_list("key", flat=True)))
