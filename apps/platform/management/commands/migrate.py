"""Django's `migrate`, run as the tables' owner (AGENCY_DB_OWNER_ROLE), then granting the login role its rights.

The application's login role does not own the tables, so that PostgreSQL's row-level security
applies to it (apps.platform.db.tenancy); the owner creates them, and every table and sequence
the migrations made is granted to the login role afterwards (`grant_login_role`).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from apps.platform.db.tenancy import grant_login_role, owner_everywhere


class Command(DjangoMigrate):
    def handle(self, *args: Any, **options: Any) -> None:
        with owner_everywhere():
            super().handle(*args, **options)
            grant_login_role(options["database"])
