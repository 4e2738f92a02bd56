from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "apps.embeddings"
    label = "embeddings"
    verbose_name = "Embeddings"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.embeddings.caching import collection_name_invalidate
        from apps.embeddings.models import Collection

        def _drop(sender, instance, **kwargs) -> None:
            collection_name_invalidate(instance)

        post_save.connect(_drop, sender=Collection, dispatch_uid="embeddings-collection-name-save", weak=False)
        post_delete.connect(_drop, sender=Collection, dispatch_uid="embeddings-collection-name-delete", weak=False)
