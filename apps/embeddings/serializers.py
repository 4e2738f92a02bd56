"""API shapes. Ingest and search bodies are validated by the services (fast, and their messages name
the item index / filter path); these serializers describe them for the OpenAPI schema."""

from __future__ import annotations

from rest_framework import serializers

from apps.embeddings.models import Collection, Embedding
from apps.tenants.selectors import tenant_slug


class CollectionSerializer(serializers.ModelSerializer):
    index = serializers.ChoiceField(source="index_type", choices=["hnsw", "ivfflat", "none"], default="hnsw")
    # The tenant's slug, read-only: the tenant comes from the credential (a body `tenant` may only
    # repeat it; the view checks that), never from the client.
    tenant = serializers.SerializerMethodField()

    def get_tenant(self, obj: Collection) -> str:
        return tenant_slug(obj.tenant_id)

    class Meta:
        model = Collection
        fields = ["id", "tenant", "name", "dimension", "metric", "index", "m", "ef_construction", "lists",
                  "precision", "binary_index", "index_status", "index_error", "index_built_at",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "tenant", "index_status", "index_error", "index_built_at", "created_at", "updated_at"]
        validators: list = []  # uniqueness is the service's (409 Conflict)


class CollectionUpdateSerializer(serializers.ModelSerializer):
    index = serializers.ChoiceField(source="index_type", choices=["hnsw", "ivfflat", "none"], required=False)

    class Meta:
        model = Collection
        fields = ["index", "m", "ef_construction", "lists", "precision", "binary_index"]


class EmbeddingSerializer(serializers.ModelSerializer):
    """Listing without vectors (they are large); search can `include` them."""

    class Meta:
        model = Embedding
        fields = ["id", "entity_type", "entity_id", "content", "metadata", "created_at", "updated_at"]


class EmbeddingItemSerializer(serializers.Serializer):
    entity_type = serializers.CharField(max_length=64)
    entity_id = serializers.CharField(max_length=255)
    vector = serializers.ListField(child=serializers.FloatField(), required=False,
                                   help_text="the vector as JSON numbers; give this or `vector_b64`")
    vector_b64 = serializers.CharField(
        required=False, help_text="the vector as base64 of little-endian float32 (4 bytes per dimension), "
                                  "the bulk format; give this or `vector`")
    content = serializers.CharField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)


class IngestRequestSerializer(serializers.Serializer):
    items = EmbeddingItemSerializer(many=True)


class IngestResponseSerializer(serializers.Serializer):
    inserted = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class DeleteRequestSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), required=False)
    entities = serializers.ListField(child=serializers.DictField(), required=False)
    filter = serializers.DictField(required=False)


class SearchRequestSerializer(serializers.Serializer):
    vector = serializers.ListField(child=serializers.FloatField(), required=False)
    id = serializers.UUIDField(required=False, help_text="more-like-this: the query is this embedding's vector")
    k = serializers.IntegerField(min_value=1, max_value=1000, default=10)
    threshold = serializers.FloatField(required=False,
                                       help_text="cosine/inner_product: minimum score; l2/l1: maximum distance")
    filter = serializers.DictField(required=False)
    include = serializers.ListField(child=serializers.ChoiceField(["metadata", "vector", "content"]), required=False)
    ef_search = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    probes = serializers.IntegerField(required=False, min_value=1, max_value=32768)
    exact = serializers.BooleanField(default=False)
    query_text = serializers.CharField(required=False, help_text="hybrid search: full-text query fused with RRF")
    rrf_k = serializers.IntegerField(required=False, min_value=1, max_value=10000)


class SearchHitSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    entity_type = serializers.CharField()
    entity_id = serializers.CharField()
    score = serializers.FloatField(allow_null=True, help_text="null for a text-only (query_text) search")
    distance = serializers.FloatField(allow_null=True)
    metadata = serializers.DictField(required=False)
    content = serializers.CharField(required=False, allow_null=True)
    vector = serializers.ListField(child=serializers.FloatField(), required=False)
    sources = serializers.DictField(required=False, help_text="hybrid: rank in each list the hit came from")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    plan = serializers.DictField()


class BatchSearchRequestSerializer(serializers.Serializer):
    queries = SearchRequestSerializer(many=True)


class BatchSearchResponseSerializer(serializers.Serializer):
    results = SearchResponseSerializer(many=True)
