"""Tables whose rows, once written, are never changed or deleted: the audit trail, the ledger.

Three layers refuse, and each model says once what a refusal tells the caller
(``append_only_refusal``):

- ``AppendOnlyModel``: ``save()`` of an existing row and ``delete()`` raise ``PermissionError``;
- ``AppendOnlyQuerySet``: ``update()``, ``delete()`` and ``_raw_delete()`` raise too (the admin's
  ``delete_selected`` and ``QuerySet.delete`` bypass ``Model.delete``);
- ``append_only_trigger``: a migration operation that, on PostgreSQL, has the database refuse
  UPDATE and DELETE from raw SQL and from any other client.

TRUNCATE is left alone: the test runner empties tables with it, and it needs the table owner's
rights, which the application's role should not have in production. SQLite gets no trigger (its
test databases are emptied with DELETE); the hash chains still catch an edit made there, or by
someone able to switch triggers off.
"""

from __future__ import annotations

from django.db import migrations, models


class AppendOnlyQuerySet(models.QuerySet):
    def _refuse(self, *args, **kwargs):
        raise PermissionError(self.model.append_only_refusal)

    update = delete = _raw_delete = _refuse


class AppendOnlyModel(models.Model):
    append_only_refusal = "These rows are append-only; they cannot be changed or deleted."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(self.append_only_refusal)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(self.append_only_refusal)


def append_only_trigger(*, table: str, function: str, trigger: str, noun: str) -> migrations.RunPython:
    """A migration operation creating (and, backwards, dropping) the PostgreSQL trigger that
    refuses UPDATE and DELETE on ``table``, with the error ``"<noun> are append-only: ..."``.
    Identifiers come from the migration itself, never from input."""
    forward_sql = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = '{noun} are append-only: ' || TG_OP || ' refused on {table}',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER {trigger}
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();
"""
    backward_sql = f"""
DROP TRIGGER IF EXISTS {trigger} ON {table};
DROP FUNCTION IF EXISTS {function}();
"""

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(forward_sql)

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(backward_sql)

    return migrations.RunPython(forward, backward)
