from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"
    verbose_name = "Common"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save
        from rest_framework.authtoken.models import Token

        from apps.common.authentication import on_token_deleted, on_user_saved

        post_delete.connect(on_token_deleted, sender=Token, dispatch_uid="apps.common.token_cache.token_deleted")
        post_save.connect(on_user_saved, sender=get_user_model(), dispatch_uid="apps.common.token_cache.user_saved")
