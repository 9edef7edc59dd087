"""The audit chain covers a keyed digest of the staff address instead of the address.

Existing records are rehashed here, in the new format, and the chain re-linked; one record,
``audit.rehashed``, is appended saying which head the old format had, so an auditor can match it
against the last checkpoint taken before the upgrade. The alternative, keeping old records in the
old format, would keep their addresses in the chain for ever: they could never be purged without
breaking it, against the retention schedule. So: verify the trail and take a checkpoint just
before migrating, and a new checkpoint just after (README, "Retention").

On PostgreSQL the append-only trigger's function lets updates through for the rehash, inside the
migration's transaction (so no other session ever sees it), and is then replaced by one that
lets through only an update clearing ``ip_address`` and changing nothing else: the retention
purge. (Disabling the trigger instead is an ALTER TABLE, which PostgreSQL refuses while the
rows' deferred foreign-key checks are pending.)
"""

from django.db import migrations
from django.utils import timezone

TABLE = "audit_auditrecord"

TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_auditrecord_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.ip_address IS NULL
       AND (to_jsonb(NEW) - 'ip_address') = (to_jsonb(OLD) - 'ip_address') THEN
        RETURN NEW;  -- the retention purge: the address goes, nothing the chain covers changes
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit records are append-only: ' || TG_OP || ' refused on {TABLE}',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

REHASHING_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_auditrecord_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit records are append-only: DELETE refused';
END;
$$ LANGUAGE plpgsql;
"""

OLD_TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_auditrecord_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit records are append-only: ' || TG_OP || ' refused on {TABLE}',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def rehash(apps, schema_editor):
    from compassionclub.audit.services import address_digest, record_hash

    AuditRecord = apps.get_model("audit", "AuditRecord")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(REHASHING_FUNCTION)
    head = AuditChainHead.objects.filter(id=1).first()
    prev = "0" * 64
    last = None
    for record in AuditRecord.objects.order_by("seq").iterator(chunk_size=2000):
        record.ip_digest = address_digest(record.ip_address)
        record.prev_hash = prev
        record.hash = record_hash(record)
        AuditRecord.objects.filter(id=record.id).update(ip_digest=record.ip_digest, prev_hash=prev, hash=record.hash)
        prev, last = record.hash, record
    if last is not None:
        bridge = AuditRecord(
            seq=last.seq + 1, created_at=timezone.now(), actor_id=None, actor_username="", ip_address=None,
            ip_digest="", action="audit.rehashed", target_type="", target_id="", target_repr="audit trail",
            old={"format": 1, "last_seq": head.last_seq if head else last.seq, "last_hash": head.last_hash if head else ""},
            new={"format": 2, "last_seq": last.seq, "last_hash": prev}, prev_hash=prev,
        )
        bridge.hash = record_hash(bridge)
        bridge.save()
        AuditChainHead.objects.update_or_create(id=1, defaults={"last_seq": bridge.seq, "last_hash": bridge.hash})
    if postgres:
        schema_editor.execute(TRIGGER_FUNCTION)


def restore_trigger(apps, schema_editor):
    # Backwards the records stay in the new format: the old one cannot be rebuilt once addresses
    # were purged. Only the stricter trigger comes back.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_TRIGGER_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_auditrecord_ip_digest")]

    operations = [migrations.RunPython(rehash, restore_trigger)]
