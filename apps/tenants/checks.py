"""System check: the configured default rates parse (a typo would otherwise surface as a 500 on the first request)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from apps.tenants.rates import rate_parse


@register()
def check_rates(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for name in ("AGENCY_API_RATE", "AGENCY_API_KEY_RATE"):
        value = getattr(settings, name, "")
        if name == "AGENCY_API_RATE" or value:
            try:
                rate_parse(value)
            except ValueError as exc:
                errors.append(Error(f"{name}: {exc}", id="tenants.E001"))
    return errors
