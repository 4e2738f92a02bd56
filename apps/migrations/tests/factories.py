"""factory-boy factories for the schema app's records (the services create real ones in most tests)."""

import factory

from apps.migrations.models import Backup, MaintenanceRun, MigrationRun, RunStatus


class BackupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backup

    kind = Backup.Kind.DAILY
    status = RunStatus.SUCCEEDED
    actor = "factory"


class MaintenanceRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MaintenanceRun

    status = RunStatus.SUCCEEDED
    options = factory.LazyFunction(lambda: {"analyze": True})


class MigrationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MigrationRun

    status = RunStatus.SUCCEEDED
