"""On PostgreSQL the database itself refuses UPDATE and DELETE on audit records.

The model and its queryset refuse too; the trigger covers raw SQL and other clients of the
database, as the ledger's does. TRUNCATE is left alone (the test runner empties tables with
it, and the application's role should not own the table in production). SQLite gets no
trigger: its test databases are emptied with DELETE. ``verify_audit`` still catches an edit
made by someone able to switch triggers off.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION audit_auditrecord_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit records are append-only: ' || TG_OP || ' refused on audit_auditrecord',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER auditrecord_append_only
    BEFORE UPDATE OR DELETE ON audit_auditrecord
    FOR EACH ROW EXECUTE FUNCTION audit_auditrecord_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS auditrecord_append_only ON audit_auditrecord;
DROP FUNCTION IF EXISTS audit_auditrecord_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
