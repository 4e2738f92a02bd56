"""factory-boy factories for the embeddings app, and the clustered synthetic data the tests share."""

from __future__ import annotations

import factory
import numpy as np

from apps.embeddings.models import Collection, Embedding, IndexStatus


def default_tenant_id() -> int:
    from apps.tenants.selectors import default_tenant_id as lookup

    return lookup()


class CollectionFactory(factory.django.DjangoModelFactory):
    """Collections go into the `default` tenant (the legacy-token tests' tenant) unless one is given."""

    class Meta:
        model = Collection

    tenant_id = factory.LazyFunction(default_tenant_id)
    name = factory.Sequence(lambda n: f"col-{n}")
    dimension = 8
    index_status = IndexStatus.PENDING


class EmbeddingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Embedding

    collection = factory.SubFactory(CollectionFactory)
    entity_type = "doc"
    entity_id = factory.Sequence(lambda n: f"e{n}")
    vector = factory.LazyAttribute(lambda o: np.random.default_rng().normal(size=o.collection.dimension).tolist())
    metadata = factory.LazyFunction(dict)


def clustered(n: int, dim: int, *, clusters: int = 30, rank: int = 16, seed: int = 7) -> np.ndarray:
    """Low-rank clustered vectors (neighbours mean something): cluster centres in a random
    `rank`-dimensional subspace, points = centre + small in-subspace noise + tiny full-space noise."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dim))
    centres = rng.normal(size=(clusters, rank)) * 3
    labels = rng.integers(0, clusters, size=n)
    low = centres[labels] + rng.normal(size=(n, rank))
    return (low @ basis + 0.1 * rng.normal(size=(n, dim))).astype(np.float32)


def items_from(vectors: np.ndarray, *, start: int = 0, metadata=None, contents=None) -> list[dict]:
    out = []
    for i, v in enumerate(vectors):
        item = {"entity_type": "doc", "entity_id": str(start + i), "vector": v.tolist()}
        if metadata is not None:
            item["metadata"] = metadata[i]
        if contents is not None:
            item["content"] = contents[i]
        out.append(item)
    return out
