import pytest
from django.apps import apps

pytestmark = pytest.mark.django_db


def test_app_is_installed_and_its_tables_are_reachable():
    config = apps.get_app_config("tasks")
    for model in config.get_models():
        assert model.objects.count() >= 0
    assert config.name == "apps.tasks"
