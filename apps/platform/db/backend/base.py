"""django-prometheus' PostgreSQL backend whose test database is created and migrated by the tables' owner.

The application connects as a role that does not own the tables (row-level security exempts
the owner, see apps.platform.db.tenancy); `migrate` switches to the owner (the project's
`migrate` command), and so must the test runner's CREATE DATABASE and the migrations it runs,
or the test database would belong to the login role and its tables would escape the policies.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql.creation import DatabaseCreation as PostgresCreation
from django_prometheus.db.backends.postgresql.base import DatabaseWrapper as PrometheusWrapper

from apps.platform.db.tenancy import owner_everywhere


class DatabaseCreation(PostgresCreation):
    def create_test_db(self, *args: Any, **kwargs: Any) -> str:
        with owner_everywhere():
            return super().create_test_db(*args, **kwargs)

    def destroy_test_db(self, *args: Any, **kwargs: Any) -> None:
        with owner_everywhere():
            super().destroy_test_db(*args, **kwargs)


class DatabaseWrapper(PrometheusWrapper):
    creation_class = DatabaseCreation
