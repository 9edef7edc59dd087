"""Members forgotten by the retention schedule keep their row (and ledger history) under a new code; a keyed digest of each dropped code stops it being issued again."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0003_retired_codes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ForgottenCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('digest', models.CharField(max_length=64, unique=True)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='member',
            name='member_consent_version_not_empty',
        ),
        migrations.AddField(
            model_name='member',
            name='forgotten_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='member',
            name='consent_given_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='member',
            name='consent_version',
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('consent_version', ''), _negated=True), ('forgotten_at__isnull', False), _connector='OR'), name='member_consent_version_not_empty'),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.CheckConstraint(condition=models.Q(('consent_given_at__isnull', False), ('forgotten_at__isnull', False), _connector='OR'), name='member_consent_given_at_set'),
        ),
        migrations.AddConstraint(
            model_name='member',
            constraint=models.CheckConstraint(condition=models.Q(('forgotten_at__isnull', True), ('status', 'withdrawn'), _connector='OR'), name='member_forgotten_only_when_withdrawn'),
        ),
    ]
