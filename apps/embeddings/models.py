"""Collections of embeddings and the embeddings themselves.

All collections share one table with an unsized `vector` column, so collections of different
dimensions and metrics live side by side; each collection gets its own partial expression index
(see `apps.embeddings.services.indexes`), and queries repeat the same cast and predicate so that
PostgreSQL uses it.
"""

from __future__ import annotations

import hashlib

from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from pgvector.django import VectorField

from apps.common.models import BaseModel
from apps.tenants.selectors import tenant_slug

# pgvector's limits for indexed types (HNSW and IVFFlat alike).
MAX_DIMENSION = 16000
MAX_INDEXED_DIMENSION = {"vector": 2000, "halfvec": 4000}
MAX_BINARY_INDEXED_DIMENSION = 64000

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class Metric(models.TextChoices):
    COSINE = "cosine"
    L2 = "l2"
    INNER_PRODUCT = "inner_product"
    L1 = "l1"


class IndexType(models.TextChoices):
    HNSW = "hnsw"
    IVFFLAT = "ivfflat"
    NONE = "none"


class Precision(models.TextChoices):
    VECTOR = "vector"
    HALFVEC = "halfvec"


class IndexStatus(models.TextChoices):
    NONE = "none"  # index_type none: every search is exact
    PENDING = "pending"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    # Dropped for a bulk load (services/ingest.py): every search is exact until the rebuild is READY.
    DEFERRED = "deferred"


# metric -> (distance operator, operator-class suffix)
METRIC_SQL = {
    Metric.COSINE: ("<=>", "cosine_ops"),
    Metric.L2: ("<->", "l2_ops"),
    Metric.INNER_PRODUCT: ("<#>", "ip_ops"),
    Metric.L1: ("<+>", "l1_ops"),
}


class Collection(BaseModel):
    """A named set of embeddings of one dimension and metric, with its own index settings."""

    # The tenant it belongs to (was a client-chosen string until migrations 0005-0008). No index of
    # its own: the unique (tenant_id, name) btree leads with it. Embeddings have no tenant column:
    # they are reached only through their collection, which is checked first.
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+", db_index=False)
    name = models.CharField(max_length=128, validators=[RegexValidator(NAME_RE, "letters, digits, _ . - only")])
    dimension = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_DIMENSION)])
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.COSINE)
    index_type = models.CharField("index", max_length=16, choices=IndexType.choices, default=IndexType.HNSW)
    m = models.PositiveSmallIntegerField(default=16, validators=[MinValueValidator(2), MaxValueValidator(100)])
    # 100, not pgvector's 64: at 100K x 768 clustered, graphs built at 64 gave recall@10 between
    # 0.947 and 0.989 at ef_search 40 from one build to the next, at 96 0.999, for 25% more build time.
    ef_construction = models.PositiveSmallIntegerField(
        default=100, validators=[MinValueValidator(4), MaxValueValidator(1000)]
    )
    lists = models.PositiveIntegerField(default=100, validators=[MinValueValidator(1), MaxValueValidator(32768)])
    precision = models.CharField(max_length=16, choices=Precision.choices, default=Precision.VECTOR)
    binary_index = models.BooleanField(
        default=False, help_text="Also keep a binary-quantized HNSW index; unfiltered searches re-rank its candidates."
    )
    index_status = models.CharField(max_length=16, choices=IndexStatus.choices, default=IndexStatus.PENDING)
    index_error = models.TextField(blank=True, default="")
    index_built_at = models.DateTimeField(null=True, blank=True)
    # When a bulk load dropped the index (status DEFERRED): bounds how long a stream of loads can defer it.
    index_deferred_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="emb_collection_tenant_name")]

    def __str__(self) -> str:
        return f"{tenant_slug(self.tenant_id)}/{self.name}"  # the slug is remembered per process: no query per row

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.dimension and self.index_type != IndexType.NONE:
            limit = MAX_INDEXED_DIMENSION.get(self.precision)
            if limit and self.dimension > limit:
                errors["dimension"] = (
                    f"{self.index_type} indexes {self.precision} of at most {limit} dimensions; got "
                    f"{self.dimension} (use precision halfvec (≤ 4000) or index none)"
                )
        if self.index_type == IndexType.IVFFLAT and self.metric == Metric.L1:
            errors["metric"] = "ivfflat has no l1 operator class; use hnsw or none"
        if self.binary_index and self.dimension and self.dimension > MAX_BINARY_INDEXED_DIMENSION:
            errors["binary_index"] = f"binary index supports at most {MAX_BINARY_INDEXED_DIMENSION} dimensions"
        if errors:
            raise ValidationError(errors)

    # --- SQL pieces shared by index builds and searches (they must match exactly) ---------------
    @property
    def index_params_key(self) -> str:
        """A short hash of what shapes the index: a change means a rebuild under a new name."""
        raw = (f"{self.index_type}:{self.dimension}:{self.metric}:{self.precision}:"
               f"{self.m}:{self.ef_construction}:{self.lists}")
        return hashlib.sha1(raw.encode()).hexdigest()[:8]

    @property
    def index_prefix(self) -> str:
        return f"emb_{self.id.hex}"

    @property
    def index_name(self) -> str:
        return f"{self.index_prefix}_{self.index_params_key}"

    @property
    def binary_index_name(self) -> str:
        return f"embq_{self.id.hex}"

    @property
    def operator(self) -> str:
        return METRIC_SQL[self.metric][0]

    @property
    def index_cast(self) -> str:
        """The indexed expression: the unsized column cast to this collection's type."""
        return f"(vector::{self.precision}({int(self.dimension)}))"

    @property
    def index_query_cast(self) -> str:
        return f"{self.precision}({int(self.dimension)})"

    @property
    def binary_expr(self) -> str:
        n = int(self.dimension)
        return f"(binary_quantize(vector::vector({n}))::bit({n}))"

    @property
    def predicate(self) -> str:
        """The partial-index predicate; a UUID from our own row, so safe to inline (and it must be a
        literal for PostgreSQL to prove the index applies)."""
        return f"collection_id = '{self.id}'::uuid"


class Embedding(BaseModel):
    """One vector of a collection, keyed by the entity it describes (so ingest is an idempotent upsert).

    `content_tsv` (a generated tsvector over `content`, GIN-indexed) exists only in the database
    (see migration 0001); hybrid search reads it with raw SQL.
    """

    # No index of its own: the unique (collection, entity_type, entity_id) btree serves it.
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="embeddings", db_index=False)
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=255)
    vector = VectorField()
    content = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # Its btree also serves lookups on (collection_id) and (collection_id, entity_type).
            models.UniqueConstraint(fields=["collection", "entity_type", "entity_id"], name="emb_unique_entity"),
        ]
        indexes = [GinIndex(fields=["metadata"], opclasses=["jsonb_path_ops"], name="emb_metadata_gin")]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id}"
