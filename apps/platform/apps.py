from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The platform layer as an installed app: it has no models, only receivers to connect."""

    name = "apps.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token

        from apps.platform.http.authentication import on_token_deleted, on_user_saved

        post_delete.connect(on_token_deleted, sender=Token, dispatch_uid="apps.platform.token_cache.token_deleted")
        post_save.connect(on_user_saved, sender=get_user_model(), dispatch_uid="apps.platform.token_cache.user_saved")
