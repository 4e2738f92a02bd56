"""The base every domain model shares: a UUID key generated in Python and timestamps."""

import uuid

from django.db import models


class BaseModel(models.Model):
    """UUID primary key (no pgcrypto needed, safe to expose, shard-friendly) plus created/updated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
