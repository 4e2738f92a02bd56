"""The Celery names of the schema app's tasks (schema evolution, backups, maintenance), in one place.

`tasks.py` registers its tasks under these names; the services enqueue by name through
`apps.platform.jobs` (so they never import the task module); `agency/celery.py` routes every
name under `PREFIX` to the `maintenance` queue. The names follow the app label (`schema`).

A stored reference to a name outlives a rename: django-celery-beat's `PeriodicTask.task`
rows are renamed by a data migration (`0003_schema_task_names`, from the `agency.ops.*` names
used before issue #12); django-celery-results rows keep the name they ran under.
"""

PREFIX = "agency.schema."
QUEUE = "maintenance"

MAINTAIN = PREFIX + "maintain"
BACKUP = PREFIX + "backup"
VERIFY_BACKUP = PREFIX + "verify_backup"
PURGE_RETENTION = PREFIX + "purge_retention"

ALL = (MAINTAIN, BACKUP, VERIFY_BACKUP, PURGE_RETENTION)
