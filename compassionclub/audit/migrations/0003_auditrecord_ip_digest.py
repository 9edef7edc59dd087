"""The keyed digest of the staff address, which the audit chain covers from 0004 on."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_audit_records_append_only_trigger'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditrecord',
            name='ip_digest',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
    ]
