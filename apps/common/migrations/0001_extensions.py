"""The PostgreSQL extensions the project stands on; every app that needs them depends on this."""

from django.contrib.postgres.operations import BtreeGistExtension, TrigramExtension
from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [VectorExtension(), TrigramExtension(), BtreeGistExtension()]
