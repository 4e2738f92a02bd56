"""Operators' view: collections with row counts, index status and size; embeddings without vectors."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from apps.common.errors import DomainError
from apps.embeddings.models import Collection, Embedding
from apps.embeddings.services.collections import collection_create, collection_index_rebuild, collection_update
from apps.embeddings.services.indexes import index_report


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "dimension", "metric", "index_type", "precision", "binary_index",
                    "index_status", "row_count", "index_size", "updated_at"]
    list_filter = ["tenant", "metric", "index_type", "precision", "index_status"]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    readonly_fields = ["id", "index_status", "index_error", "index_built_at", "index_details", "created_at",
                       "updated_at"]
    actions = ["rebuild_index"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_rows=Count("embeddings"))

    def get_readonly_fields(self, request, obj=None):
        fixed = ["tenant", "name", "dimension", "metric"] if obj else []
        return [*fixed, *self.readonly_fields]

    @admin.display(description="rows", ordering="_rows")
    def row_count(self, obj: Collection) -> int:
        return obj._rows

    @admin.display(description="index size")
    def index_size(self, obj: Collection) -> str:
        total = sum(r["size_bytes"] for r in index_report(collection=obj))
        return f"{total / 1048576:.1f} MiB" if total else "-"

    @admin.display(description="indexes")
    def index_details(self, obj: Collection) -> str:
        return format_html("<pre>{}</pre>", json.dumps(index_report(collection=obj), indent=2))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:  # Django's view runs in a transaction: a refused save leaves nothing behind
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:  # a quota, index settings pgvector refuses: say so, not a 500
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            changes = {f: form.cleaned_data[f] for f in form.changed_data if f in
                       {"index_type", "m", "ef_construction", "lists", "precision", "binary_index"}}
            fresh = Collection.objects.get(pk=obj.pk)
            collection_update(collection=fresh, **changes)
        else:
            created = collection_create(tenant_id=form.cleaned_data["tenant"].pk,
                                        **{f: form.cleaned_data[f] for f in
                                           ["name", "dimension", "metric", "index_type", "m",
                                            "ef_construction", "lists", "precision", "binary_index"]})
            obj.pk = created.pk

    @admin.action(description="Rebuild index")
    def rebuild_index(self, request, queryset) -> None:
        for collection in queryset:
            collection_index_rebuild(collection=collection)
        self.message_user(request, f"Index rebuild scheduled for {queryset.count()} collection(s).", messages.SUCCESS)


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ["entity_type", "entity_id", "collection", "short_content", "updated_at"]
    list_filter = ["collection", "entity_type"]
    search_fields = ["entity_id", "entity_type"]
    list_select_related = ["collection"]
    exclude = ["vector"]
    readonly_fields = ["id", "collection", "entity_type", "entity_id", "content", "pretty_metadata",
                       "dimension", "created_at", "updated_at"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("vector")

    def has_add_permission(self, request) -> bool:
        return False  # embeddings come through the API or import_embeddings

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="content")
    def short_content(self, obj: Embedding) -> str:
        return (obj.content or "")[:80]

    @admin.display(description="metadata")
    def pretty_metadata(self, obj: Embedding) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.metadata, indent=2, sort_keys=True))

    @admin.display(description="dimension")
    def dimension(self, obj: Embedding) -> int:
        return obj.collection.dimension
