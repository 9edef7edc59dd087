"""On PostgreSQL the database itself refuses UPDATE and DELETE on ledger entries.

The model and its queryset refuse too; the trigger covers raw SQL and other clients of the
database (``compassionclub.audit.append_only``).
"""

from django.db import migrations

from compassionclub.audit.append_only import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("distributions", "0003_system_accounts")]

    operations = [
        append_only_trigger(
            table="distributions_ledgerentry", function="distributions_ledgerentry_append_only",
            trigger="ledgerentry_append_only", noun="ledger entries",
        )
    ]
