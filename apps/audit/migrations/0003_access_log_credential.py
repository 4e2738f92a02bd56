"""The access log records the credential presented (also a refused key's prefix), the tenant and the error
code, and counts collapsed repeats of refused requests (`hits`). Reversible: the columns are dropped."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_flush_schedule'),
        ('tenants', '0002_default_tenant'),
    ]

    operations = [
        migrations.AddField(
            model_name='accesslog',
            name='error_code',
            field=models.CharField(blank=True, help_text="The error body's code, if any.", max_length=64),
        ),
        migrations.AddField(
            model_name='accesslog',
            name='hits',
            field=models.PositiveIntegerField(default=1, help_text='Identical refused requests collapsed into this row.'),
        ),
        migrations.AddField(
            model_name='accesslog',
            name='key_prefix',
            field=models.CharField(blank=True, help_text='The API key prefix presented, also when it was refused.', max_length=8),
        ),
        migrations.AddField(
            model_name='accesslog',
            name='tenant',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenants.tenant'),
        ),
        migrations.AlterField(
            model_name='accesslog',
            name='username',
            field=models.CharField(blank=True, help_text='The credential: user name, or api-key:<prefix> for a key.', max_length=150),
        ),
        migrations.AddIndex(
            model_name='accesslog',
            index=models.Index(fields=['tenant', 'timestamp'], name='audit_access_tenant_ts'),
        ),
        migrations.AddIndex(
            model_name='accesslog',
            index=models.Index(fields=['username', 'timestamp'], name='audit_access_username_ts'),
        ),
        migrations.AddIndex(
            model_name='accesslog',
            index=models.Index(fields=['key_prefix', 'timestamp'], name='audit_access_key_ts'),
        ),
    ]
