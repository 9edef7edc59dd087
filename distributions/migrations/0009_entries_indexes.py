"""The entries table loses four indexes every insert paid for and nothing reads through, and gains
one for the ledger export.

- ``batch_id`` and ``member_id`` alone: ``entry_batch_kind_idx`` and ``entry_member_occurred_idx``
  lead with those columns and serve every lookup by either (and the PROTECT checks).
- The ``varchar_pattern_ops`` copies of the unique ``hash`` and ``idempotency_key`` indexes, which
  Django builds on PostgreSQL for ``unique=True`` CharFields to serve LIKE: the ledger looks both
  up by equality only. Uniqueness stays, as named constraints (the existing unique indexes are
  renamed, not rebuilt).
- ``entry_recorded_idx`` (recorded_at, id): the export's period filter and its order.

On PostgreSQL the drops and renames are plain SQL, so a large ledger is not rebuilt or its foreign
keys revalidated; SQLite keeps its old indexes (harmless there) and gets the new one.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "distributions_ledgerentry"
PG_FORWARD = f"""
DROP INDEX IF EXISTS distributions_ledgerentry_batch_id_e309bed5;
DROP INDEX IF EXISTS distributions_ledgerentry_member_id_7dc78ad3;
DROP INDEX IF EXISTS distributions_ledgerentry_hash_0da26453_like;
DROP INDEX IF EXISTS distributions_ledgerentry_idempotency_key_01eda64c_like;
ALTER TABLE {TABLE} RENAME CONSTRAINT distributions_ledgerentry_hash_key TO ledgerentry_hash_unique;
ALTER TABLE {TABLE} RENAME CONSTRAINT distributions_ledgerentry_idempotency_key_key TO ledgerentry_idempotency_key_unique;
"""
PG_BACKWARD = f"""
ALTER TABLE {TABLE} RENAME CONSTRAINT ledgerentry_hash_unique TO distributions_ledgerentry_hash_key;
ALTER TABLE {TABLE} RENAME CONSTRAINT ledgerentry_idempotency_key_unique TO distributions_ledgerentry_idempotency_key_key;
CREATE INDEX distributions_ledgerentry_batch_id_e309bed5 ON {TABLE} (batch_id);
CREATE INDEX distributions_ledgerentry_member_id_7dc78ad3 ON {TABLE} (member_id);
CREATE INDEX distributions_ledgerentry_hash_0da26453_like ON {TABLE} (hash varchar_pattern_ops);
CREATE INDEX distributions_ledgerentry_idempotency_key_01eda64c_like ON {TABLE} (idempotency_key varchar_pattern_ops);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("distributions", "0008_batch_receipts")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="batch",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="ledger_entries",
                        to="testing_results.batch",
                    ),
                ),
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="member",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries", to="members.member",
                    ),
                ),
                migrations.AlterField(model_name="ledgerentry", name="hash", field=models.CharField(max_length=64)),
                migrations.AlterField(model_name="ledgerentry", name="idempotency_key", field=models.CharField(max_length=64)),
                migrations.AddConstraint(
                    model_name="ledgerentry",
                    constraint=models.UniqueConstraint(fields=("idempotency_key",), name="ledgerentry_idempotency_key_unique"),
                ),
                migrations.AddConstraint(
                    model_name="ledgerentry",
                    constraint=models.UniqueConstraint(fields=("hash",), name="ledgerentry_hash_unique"),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(fields=["recorded_at", "id"], name="entry_recorded_idx"),
        ),
    ]
