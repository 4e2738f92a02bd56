"""Tasks get a tenant (nullable until 0004 fills it) and the credential that holds their lease."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0002_reaper_schedule"),
        ("tenants", "0002_default_tenant"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="tenant",
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="tenants.tenant"),
        ),
        migrations.AddField(
            model_name="task",
            name="lease_credential",
            field=models.CharField(blank=True, default="", max_length=150,
                                   help_text="The credential that claimed the lease (key:<prefix> or user:<id>)."),
        ),
    ]
