"""Retention: ``manage.py purge`` removes what the schedule says is due, per kind, says what it
would remove with --dry-run, records itself in the audit trail, and leaves every chain and every
checkpoint taken before it verifying. The audit chain covers a keyed digest of a staff address,
so the address can go; an address edited behind the application's back is still caught."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessLog
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from compassionclub import retention
from compassionclub.audit.models import AuditRecord
from compassionclub.audit.services import address_digest, audit_log
from distributions.status_page.models import AttemptCounter
from tests.distributions.test_checkpoints import keys, ledger, take, verify  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the trigger exists only on PostgreSQL")


def written_days_ago(days: int, monkeypatch, **kwargs) -> AuditRecord:
    then = timezone.now() - dt.timedelta(days=days)
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: then)
        return audit_log(**kwargs)


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("purge", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_chain_covers_a_keyed_digest_of_the_address_not_the_address(settings):
    record = audit_log(action="test.addressed", ip_address="192.0.2.7")
    assert record.ip_digest == address_digest("192.0.2.7") and "192.0.2.7" not in record.ip_digest
    settings.AUDIT_ADDRESS_KEY = "another key"
    assert address_digest("192.0.2.7") != record.ip_digest  # keyed: not a plain hash anyone can test
    assert audit_log(action="test.none").ip_digest == ""


def test_purge_clears_old_staff_addresses_and_every_chain_and_checkpoint_still_verifies(keys, ledger, tmp_path, monkeypatch):  # noqa: F811
    old = written_days_ago(91, monkeypatch, action="test.old", ip_address="192.0.2.1")
    recent = written_days_ago(89, monkeypatch, action="test.recent", ip_address="2001:db8::5")
    checkpoint = take(keys, tmp_path / "before.json")

    out, err = run()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.ip_address is None and old.ip_digest == address_digest("192.0.2.1")
    assert recent.ip_address == "2001:db8::5"
    assert "staff addresses in the audit trail: 1 / 1" in err
    assert out.strip().splitlines()[-1].startswith("Purged 1 records: 1 staff addresses in the audit trail")
    call_command("verify_audit", stdout=StringIO())
    call_command("verify_ledger", "--quiet", stdout=StringIO(), stderr=StringIO())
    assert "extends the checkpoint" in verify("verify_audit", checkpoint, keys[1])
    assert "extends the checkpoint" in verify("verify_ledger", checkpoint, keys[1])
    assert "extends the checkpoint" in verify("verify_audit", take(keys, tmp_path / "after.json"), keys[1])


def test_the_purge_is_recorded_in_the_audit_trail_with_counts_never_content(monkeypatch):
    written_days_ago(100, monkeypatch, action="test.old", ip_address="192.0.2.9")
    run()
    record = AuditRecord.objects.get(action="retention.purged")
    assert record.new["removed"]["audit_addresses"] == 1
    assert record.new["periods"]["audit_addresses"] == 90 * 86400
    assert "192.0.2.9" not in json.dumps(record.new)


def test_a_dry_run_says_what_would_go_per_kind_and_changes_nothing(monkeypatch):
    record = written_days_ago(120, monkeypatch, action="test.old", ip_address="192.0.2.3")
    AttemptCounter.objects.create(key="client:x", count=2, expires_at=timezone.now() - dt.timedelta(minutes=1))
    before = AuditRecord.objects.count()

    out, _ = run("--dry-run")

    lines = out.strip().splitlines()
    assert "status-page try counters (kept 1 day): 1 would go" in lines
    assert "staff addresses in the audit trail (kept 90 days): 1 would go" in lines
    assert lines[-1] == "Dry run: 2 records would go; nothing was changed."
    record.refresh_from_db()
    assert record.ip_address == "192.0.2.3" and AttemptCounter.objects.count() == 1
    assert AuditRecord.objects.count() == before  # a dry run is not a purge: nothing recorded


def test_status_page_counters_go_when_their_window_ends(settings):
    now = timezone.now()
    AttemptCounter.objects.create(key="client:ended", count=3, expires_at=now - dt.timedelta(seconds=1))
    AttemptCounter.objects.create(key="lock:current", count=1, expires_at=now + dt.timedelta(hours=20))
    run()
    assert list(AttemptCounter.objects.values_list("key", flat=True)) == ["lock:current"]


def test_sign_in_records_go_after_their_period():
    now = timezone.now()
    stale = AccessLog.objects.create(username="someone", ip_address="192.0.2.50", user_agent="x")
    AccessLog.objects.filter(pk=stale.pk).update(attempt_time=now - dt.timedelta(days=91))
    AccessLog.objects.create(username="someone", ip_address="192.0.2.51", user_agent="x")
    failed = AccessAttempt.objects.create(username="x", ip_address="192.0.2.52", user_agent="y", failures_since_start=1,
                                          get_data="", post_data="")
    AccessAttempt.objects.filter(pk=failed.pk).update(attempt_time=now - dt.timedelta(days=200))
    run()
    assert list(AccessLog.objects.values_list("ip_address", flat=True)) == ["192.0.2.51"]
    assert not AccessAttempt.objects.exists()


def test_the_schedule_comes_from_the_settings(settings, monkeypatch):
    written_days_ago(40, monkeypatch, action="test.old", ip_address="192.0.2.4")
    settings.RETENTION = {**settings.RETENTION, "audit_addresses": dt.timedelta(days=30)}
    assert retention.purge_plan()["audit_addresses"] == 1
    assert retention.kept_for("audit_addresses") == "30 days"


def test_an_address_edited_behind_the_applications_back_is_caught(monkeypatch):
    record = audit_log(action="test.addressed", ip_address="192.0.2.7")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE {AuditRecord._meta.db_table} SET ip_address = %s WHERE id = %s", ["192.0.2.99", record.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
    with pytest.raises(CommandError, match="address does not match the digest"):
        call_command("verify_audit", stdout=StringIO())


@on_postgres
def test_the_database_lets_through_clearing_an_address_and_nothing_else():
    record = audit_log(action="test.addressed", ip_address="192.0.2.7")
    table = AuditRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET ip_address = NULL WHERE id = %s", [record.pk])
        for sql in (f"UPDATE {table} SET ip_address = NULL, action = 'x.y' WHERE id = %s",
                    f"UPDATE {table} SET ip_digest = '' WHERE id = %s",
                    f"UPDATE {table} SET ip_address = '192.0.2.8' WHERE id = %s",
                    f"DELETE FROM {table} WHERE id = %s"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql, [record.pk])


def format_1_hash(row: dict) -> str:
    """The audit hash before the chain covered a digest of the address (the address itself)."""
    import hashlib

    from compassionclub.audit.services import canonical_json

    payload = {key: row[key] for key in ("seq", "actor_username", "ip_address", "action", "target_type", "target_id",
                                         "target_repr", "old", "new", "prev_hash")}
    payload.update(created_at=row["created_at"].astimezone(dt.UTC).isoformat(), actor=None)
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_the_migration_rehashes_records_of_the_old_format_and_says_so_in_the_trail():
    from compassionclub.audit.models import AuditChainHead

    call_command("migrate", "audit", "0003_auditrecord_ip_digest", verbosity=0)
    prev = "0" * 64
    with connection.cursor() as cursor:
        for seq, address in enumerate(["192.0.2.1", None, "2001:db8::1"], start=1):
            row = {"seq": seq, "created_at": timezone.now(), "actor_username": "", "ip_address": address,
                   "action": "test.old_format", "target_type": "", "target_id": "", "target_repr": "",
                   "old": None, "new": {"n": seq}, "prev_hash": prev}
            row["hash"] = format_1_hash(row)
            cursor.execute(
                f"INSERT INTO {AuditRecord._meta.db_table} (seq, created_at, actor_username, ip_address, ip_digest, "
                "action, target_type, target_id, target_repr, old, new, prev_hash, hash) "
                "VALUES (%s, %s, '', %s, '', %s, '', '', '', NULL, %s, %s, %s)",
                [seq, row["created_at"], address, row["action"], json.dumps(row["new"]), prev, row["hash"]])
            prev = row["hash"]
    AuditChainHead.objects.update_or_create(id=1, defaults={"last_seq": 3, "last_hash": prev})

    call_command("migrate", "audit", verbosity=0)

    call_command("verify_audit", stdout=StringIO())
    records = list(AuditRecord.objects.order_by("seq"))
    assert [r.ip_digest for r in records[:3]] == [address_digest("192.0.2.1"), "", address_digest("2001:db8::1")]
    bridge = records[-1]
    assert bridge.action == "audit.rehashed" and bridge.old == {"format": 1, "last_seq": 3, "last_hash": prev}
    assert bridge.new == {"format": 2, "last_seq": 3, "last_hash": records[2].hash}
    # And the purge can now clear the addresses without breaking the chain.
    retention.purge(now=timezone.now() + dt.timedelta(days=91))
    assert not AuditRecord.objects.filter(ip_address__isnull=False).exists()
    call_command("verify_audit", stdout=StringIO())
