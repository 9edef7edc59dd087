# The reference account and entry kind: a sample of each batch retained at receipt.

from django.conf import settings
from django.db import migrations, models


def create_reference_account(apps, schema_editor):
    Account = apps.get_model("distributions", "Account")
    Account.objects.get_or_create(kind="reference", group=None)


class Migration(migrations.Migration):

    dependencies = [
        ('distributions', '0010_ledgerentry_replacement_kind'),
        ('members', '0003_retired_codes'),
        ('testing_results', '0010_reference_sample'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='account',
            name='account_kind_valid',
        ),
        migrations.RemoveConstraint(
            model_name='ledgerentry',
            name='ledgerentry_kind_valid',
        ),
        migrations.AlterField(
            model_name='account',
            name='kind',
            field=models.CharField(choices=[('supplier', 'Supplier (external)'), ('central', 'Central store'), ('group', 'Group store'), ('members', 'Members (handed out)'), ('lab', 'Lab (samples)'), ('destroyed', 'Destroyed'), ('in_transit', 'In transit'), ('reference', 'Reference samples (retained)')], max_length=16),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='kind',
            field=models.CharField(choices=[('intake', 'Intake'), ('transfer', 'Transfer'), ('distribution', 'Distribution'), ('sample', 'Sample'), ('destruction', 'Destruction'), ('adjustment', 'Adjustment'), ('reversal', 'Reversal'), ('manifest_send', 'Sent on a manifest'), ('manifest_receive', 'Received from a manifest'), ('manifest_cancel', 'Manifest cancelled'), ('manifest_diff', 'Manifest difference at receipt'), ('replacement', 'Replacement for a recall'), ('reference', 'Reference sample retained')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='account',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['supplier', 'central', 'group', 'members', 'lab', 'destroyed', 'in_transit', 'reference'])), name='account_kind_valid'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['intake', 'transfer', 'distribution', 'sample', 'destruction', 'adjustment', 'reversal', 'manifest_send', 'manifest_receive', 'manifest_cancel', 'manifest_diff', 'replacement', 'reference'])), name='ledgerentry_kind_valid'),
        ),
        migrations.RunPython(create_reference_account, migrations.RunPython.noop),
    ]
