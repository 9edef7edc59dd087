"""The audit trail: views of a member's record, refusals and staff addresses are recorded;
secrets never reach it or the logs; rows cannot be changed; verify_audit finds tampering."""

from __future__ import annotations

import contextlib
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.audit.services import audit_log


@pytest.mark.django_db
def test_viewing_a_member_is_recorded_with_the_staff_address(client, alice, dataset):
    client.force_login(alice)
    member = dataset["member_a"]
    assert client.get(reverse("admin:members_member_change", args=[member.pk]), REMOTE_ADDR="192.0.2.44").status_code == 200
    assert client.get(reverse("admin:members_member_history", args=[member.pk])).status_code == 200
    records = AuditRecord.objects.filter(action="member.viewed", target_id=str(member.pk)).order_by("seq")
    assert [r.new["page"] for r in records] == ["change", "history"]
    assert records[0].actor == alice and records[0].ip_address == "192.0.2.44"


@pytest.mark.django_db
def test_another_groups_member_is_neither_shown_nor_recorded_as_viewed(client, alice, dataset):
    client.force_login(alice)
    other = dataset["member_b"]
    assert client.get(reverse("admin:members_member_change", args=[other.pk])).status_code == 302
    assert not AuditRecord.objects.filter(action="member.viewed", target_id=str(other.pk)).exists()


@pytest.mark.django_db
def test_a_refusal_in_the_admin_is_recorded(client, erin, dataset):
    client.force_login(erin)
    assert client.get(reverse("admin:members_member_changelist")).status_code == 403
    record = AuditRecord.objects.get(action="security.permission_denied")
    assert record.actor == erin and record.new["path"] == reverse("admin:members_member_changelist")


@pytest.mark.django_db
def test_secrets_are_masked_at_any_depth():
    record = audit_log(
        action="test.secrets", new={"pin": "482915", "nested": {"password": "hunter2hunter2", "otp_token": "123456"}, "grams": "3"}
    )
    text = str(record.new)
    assert "482915" not in text and "hunter2hunter2" not in text and "123456" not in text
    assert record.new["grams"] == "3"


@pytest.mark.django_db
def test_a_failed_login_never_puts_the_password_in_the_trail_or_the_logs(client, alice, caplog):
    caplog.set_level(logging.DEBUG)
    client.post(reverse("admin:login"), {"username": "alice", "password": "Sup3r-secret-typo!", "next": "/admin/"})
    assert AuditRecord.objects.filter(action="auth.login_failed").exists()
    everything = " ".join(str(r.new) + str(r.old) + r.target_repr for r in AuditRecord.objects.all())
    assert "Sup3r-secret-typo!" not in everything
    assert "Sup3r-secret-typo!" not in caplog.text


@pytest.mark.django_db
def test_records_cannot_be_changed_or_deleted_through_the_orm():
    record = audit_log(action="test.append_only", new={"a": 1})
    record.action = "test.changed"
    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()
    with pytest.raises(PermissionError):
        AuditRecord.objects.filter(pk=record.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditRecord.objects.filter(pk=record.pk).delete()


@contextlib.contextmanager
def behind_the_applications_back():
    """Raw SQL with triggers switched off, as a database superuser could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["UPDATE {table} SET action = 'test.forged' WHERE id = %s", "DELETE FROM {table} WHERE id = %s"])
def test_postgresql_itself_refuses_to_change_or_delete_an_audit_record(statement):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists only on PostgreSQL")
    record = audit_log(action="test.chain", new={"i": 1})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=AuditRecord._meta.db_table), [record.pk])
    assert AuditRecord.objects.get(pk=record.pk).action == "test.chain"


@pytest.mark.django_db
def test_verify_audit_passes_an_intact_chain_and_names_an_edited_record(capsys):
    for i in range(3):
        audit_log(action="test.chain", new={"i": i})
    call_command("verify_audit")
    assert "intact: 3 records" in capsys.readouterr().out
    second = AuditRecord.objects.order_by("seq")[1]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {AuditRecord._meta.db_table} SET action = %s WHERE id = %s", ["test.forged", second.pk])
    with pytest.raises(CommandError) as exc:
        call_command("verify_audit")
    assert f"#{second.seq}" in str(exc.value) and "edited" in str(exc.value)


@pytest.mark.django_db
def test_verify_audit_notices_a_deleted_record():
    for i in range(3):
        audit_log(action="test.chain", new={"i": i})
    second = AuditRecord.objects.order_by("seq")[1]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"DELETE FROM {AuditRecord._meta.db_table} WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match="deleted"):
        call_command("verify_audit")


@pytest.mark.django_db
def test_auditors_and_programme_admins_read_the_trail_and_nobody_writes_it(client, charlie, pat, alice, root, dataset):
    record = AuditRecord.objects.order_by("seq").first()
    for user in (charlie, pat):
        client.force_login(user)
        assert client.get(reverse("admin:audit_auditrecord_changelist")).status_code == 200
        assert client.get(reverse("admin:audit_auditrecord_change", args=[record.pk])).status_code == 200
    for user in (charlie, pat, root):
        client.force_login(user)
        assert client.get(reverse("admin:audit_auditrecord_add")).status_code == 403
        assert client.get(reverse("admin:audit_auditrecord_delete", args=[record.pk])).status_code == 403
        client.post(reverse("admin:audit_auditrecord_change", args=[record.pk]), {"action": "x"})
    client.force_login(alice)
    assert client.get(reverse("admin:audit_auditrecord_changelist")).status_code == 403
    record.refresh_from_db()
    assert record.action == "member.enrolled"
