"""Collections get a real tenant (nullable until 0006 has filled it from the old string).

`Collection.tenant` was a free string the client chose (`?tenant=`, default "default"). The
string is kept for 0006 under the name `tenant_name`, and the unique (tenant, name) rule is
dropped here and made again over the foreign key in 0007. No index of the key's own: the
unique (tenant_id, name) btree of 0007 leads with it. Reversible: the column goes, the name
comes back, the old constraint is made again.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("embeddings", "0004_collection_index_deferred"),
        ("tenants", "0002_default_tenant"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="collection", name="emb_collection_tenant_name"),
        migrations.RenameField(model_name="collection", old_name="tenant", new_name="tenant_name"),
        migrations.AddField(
            model_name="collection",
            name="tenant",
            field=models.ForeignKey(db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="tenants.tenant"),
        ),
    ]
