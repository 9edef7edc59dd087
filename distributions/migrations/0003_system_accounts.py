from django.db import migrations

SYSTEM_KINDS = ["supplier", "central", "members", "lab", "destroyed"]


def create_system_accounts(apps, schema_editor):
    Account = apps.get_model("distributions", "Account")
    for kind in SYSTEM_KINDS:
        Account.objects.get_or_create(kind=kind, group=None)


class Migration(migrations.Migration):
    dependencies = [("distributions", "0002_balance_is_chain_head")]

    operations = [migrations.RunPython(create_system_accounts, migrations.RunPython.noop)]
