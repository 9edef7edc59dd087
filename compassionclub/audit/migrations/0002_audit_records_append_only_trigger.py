"""On PostgreSQL the database itself refuses UPDATE and DELETE on audit records.

The model and its queryset refuse too; the trigger covers raw SQL and other clients of the
database, as the ledger's does (``compassionclub.audit.append_only``). ``verify_audit`` still
catches an edit made by someone able to switch triggers off.
"""

from django.db import migrations

from compassionclub.audit.append_only import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        append_only_trigger(
            table="audit_auditrecord", function="audit_auditrecord_append_only", trigger="auditrecord_append_only",
            noun="audit records",
        )
    ]
