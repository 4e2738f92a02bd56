"""Agents get a tenant (nullable until 0003 has filled it from their namespace)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("tenants", "0002_default_tenant"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="tenant",
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="tenants.tenant"),
        ),
    ]
