"""On PostgreSQL the database itself refuses UPDATE and DELETE on ledger entries.

The model and its queryset refuse too; the trigger covers raw SQL and other clients of the
database. TRUNCATE is left alone: it is what the test runner uses to empty a test database,
and it needs the table owner's rights, which the application's role should not have in
production. SQLite gets no trigger: its test databases are emptied with DELETE.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION distributions_ledgerentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'ledger entries are append-only: ' || TG_OP || ' refused on distributions_ledgerentry',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON distributions_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION distributions_ledgerentry_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledgerentry_append_only ON distributions_ledgerentry;
DROP FUNCTION IF EXISTS distributions_ledgerentry_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("distributions", "0003_system_accounts")]

    operations = [migrations.RunPython(forward, backward)]
