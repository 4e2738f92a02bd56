"""The project's database engine: django-prometheus' PostgreSQL backend, with the test database made by the owner."""
