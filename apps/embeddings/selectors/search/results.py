"""The row shape of a hit (the columns a search selects, the dict built from them), scores and thresholds.

Scores and thresholds per metric (documented in the README):

| metric        | distance (pgvector operator)  | score                | `threshold` keeps   |
| ------------- | ----------------------------- | -------------------- | ------------------- |
| cosine        | cosine distance `<=>` (0..2)  | 1 - distance         | score >= threshold  |
| inner_product | negative inner product `<#>`  | inner product        | score >= threshold  |
| l2            | Euclidean distance `<->`      | 1 / (1 + distance)   | distance <= threshold |
| l1            | taxicab distance `<+>`        | 1 / (1 + distance)   | distance <= threshold |
"""

from __future__ import annotations

import json
import operator
from typing import Any

from apps.embeddings.models import Collection, Metric

SCORES = {Metric.COSINE: lambda d: 1.0 - d, Metric.INNER_PRODUCT: lambda d: -d}
SCORES.update({m: (lambda d: 1.0 / (1.0 + d)) for m in Metric if m not in SCORES})
by_distance = operator.itemgetter("distance")


def score(metric: str, distance: float) -> float:
    """The hit's score for a distance (the table above)."""
    return SCORES[metric](distance)


def keep(metric: str, threshold: float | None, distance: float) -> bool:
    """Whether a hit at `distance` passes the request's threshold (the table above)."""
    if threshold is None:
        return True
    if metric in (Metric.COSINE, Metric.INNER_PRODUCT):
        return score(metric, distance) >= threshold
    return distance <= threshold


def columns(include: set[str]) -> str:
    """The select list of a hit, before its distance (`hit` reads them in this order)."""
    cols = ["id::text", "entity_type", "entity_id"]  # the id as text: no UUID object to make and format
    if "metadata" in include:
        cols.append("metadata")
    if "content" in include:
        cols.append("content")
    if "vector" in include:
        cols.append("vector::text")
    return ", ".join(cols)


def hit(collection: Collection, row: tuple, include: set[str]) -> dict[str, Any]:
    """A result row (selected with `columns(include)` then the distance) as the API's hit."""
    it = iter(row)
    out: dict[str, Any] = {"id": next(it), "entity_type": next(it), "entity_id": next(it)}
    if "metadata" in include:
        value = next(it)
        out["metadata"] = json.loads(value) if isinstance(value, str) else value
    if "content" in include:
        out["content"] = next(it)
    if "vector" in include:
        out["vector"] = json.loads(next(it))
    distance = float(next(it))
    out["distance"] = distance
    out["score"] = score(collection.metric, distance)
    return out
