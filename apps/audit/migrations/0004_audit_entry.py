"""The audit trail: one `AuditEntry` per write, with its actor (API key, user or system) and tenant.
Reversible: the table is dropped."""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_access_log_credential'),
        ('tenants', '0002_default_tenant'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('timestamp', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor_kind', models.CharField(choices=[('key', 'API key'), ('user', 'user'), ('system', 'system')], max_length=8)),
                ('actor', models.CharField(max_length=200)),
                ('action', models.CharField(help_text='<what>.<verb>, e.g. collection.create, embeddings.ingest', max_length=64)),
                ('target_type', models.CharField(blank=True, help_text='app_label.model of the object written', max_length=100)),
                ('target_id', models.CharField(blank=True, max_length=100)),
                ('target_repr', models.CharField(blank=True, max_length=200)),
                ('data', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('remote_addr', models.GenericIPAddressField(blank=True, null=True)),
                ('request_id', models.CharField(blank=True, max_length=64)),
                ('actor_key', models.ForeignKey(blank=True, db_constraint=False, db_index=False, help_text='The API key that made the write (its id; the prefix is in actor).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenants.apikey')),
                ('actor_user', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenants.tenant')),
            ],
            options={
                'verbose_name_plural': 'audit entries',
                'ordering': ['-timestamp', '-id'],
                'indexes': [
                    models.Index(fields=['timestamp'], name='audit_entry_ts'),
                    models.Index(fields=['tenant', 'timestamp'], name='audit_entry_tenant_ts'),
                    models.Index(fields=['actor', 'timestamp'], name='audit_entry_actor_ts'),
                    models.Index(fields=['action', 'timestamp'], name='audit_entry_action_ts'),
                    models.Index(fields=['target_type', 'target_id'], name='audit_entry_target'),
                ],
            },
        ),
    ]
