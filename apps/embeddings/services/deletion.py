"""Deletes of embeddings: by ids, by (entity_type, entity_id) pairs and/or by a metadata filter, in one statement."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction

from apps.audit.services import audit_record
from apps.common.errors import ValidationFailed
from apps.embeddings.models import Collection
from apps.embeddings.selectors.filters import filter_compile


@transaction.atomic
def embeddings_delete(*, collection: Collection, ids: Any = None, entities: Any = None,
                      filter: Any = None) -> int:
    """Delete by embedding ids, by (entity_type, entity_id) pairs and/or by filter; returns the count.

    One audit entry for the whole delete: the count, how many ids / entities were named, and the
    filter as given (not the ids themselves: a delete may name 10,000).
    """
    if ids is None and entities is None and filter is None:
        raise ValidationFailed("ids: give ids, entities or filter", code="invalid_delete")
    clauses, params, where_filter, filter_params = [], [], "TRUE", []
    if ids is not None:
        if not isinstance(ids, list) or len(ids) > 10000:
            raise ValidationFailed("ids: expected a list of at most 10000 ids")
        parsed = []
        for i, value in enumerate(ids):
            try:
                parsed.append(uuid.UUID(str(value)))
            except ValueError:
                raise ValidationFailed(f"ids[{i}]: not a valid id", code="invalid_delete") from None
        clauses.append("id = ANY(%s)")
        params.append(parsed)
    if entities is not None:
        if not isinstance(entities, list) or len(entities) > 10000:
            raise ValidationFailed("entities: expected a list of at most 10000 objects")
        types, eids = [], []
        for i, ent in enumerate(entities):
            if not isinstance(ent, dict) or not isinstance(ent.get("entity_type"), str) \
                    or not isinstance(ent.get("entity_id"), str | int):
                raise ValidationFailed(f"entities[{i}]: expected {{entity_type, entity_id}}", code="invalid_delete")
            types.append(ent["entity_type"])
            eids.append(str(ent["entity_id"]))
        clauses.append("(entity_type, entity_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))")
        params += [types, eids]
    if filter is not None:
        where_filter, filter_params = filter_compile(filter)
    selected = " OR ".join(f"({c})" for c in clauses) if clauses else "TRUE"
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM embeddings_embedding WHERE {collection.predicate} AND ({selected}) "
                    f"AND ({where_filter})", params + filter_params)
        deleted = cur.rowcount
    audit_record(action="embeddings.delete_by_filter" if filter is not None else "embeddings.delete",
                 target=collection, data={"deleted": deleted, "ids": None if ids is None else len(ids),
                                          "entities": None if entities is None else len(entities), "filter": filter})
    return deleted
