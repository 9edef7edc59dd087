"""Members who left: once withdrawn longer than the programme keeps them, the purge gives their
record a code no card carries and drops the PIN hash, the consent and the codes of earlier cards;
their ledger history stays whole under the new code, and every chain and checkpoint verifies."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.models import LedgerEntry
from members import services as members
from members.codes import format_code
from members.models import ForgottenCode, Member, RetiredCode
from tests import factories as f
from tests.builders import Stock, released_stock
from tests.distributions.test_card_reissue import NEW_PIN, PIN, status
from tests.distributions.test_checkpoints import keys, take, verify  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def heroin(db):
    return f.SubstanceFactory(name="Heroin")


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def withdraw(member, by, days_ago: int, monkeypatch) -> None:
    then = timezone.now() - dt.timedelta(days=days_ago)
    with monkeypatch.context() as m:
        m.setattr(timezone, "now", lambda: then)
        members.member_set_status(member=member, status=Member.Status.WITHDRAWN, reason="moved", by=by)


def purge(*args) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_member_who_left_long_ago_keeps_the_history_under_a_code_nobody_holds(
        client, alice, member, heroin, erin, dana, pat, keys, tmp_path, monkeypatch):  # noqa: F811
    stock = Stock(checker=erin, officer=dana, admin=pat)
    batch = released_stock(member.group, heroin, checker=erin, officer=dana, admin=pat)
    stock.hand_out(member, batch, "3")
    members.member_card_reissue(member=member, pin=NEW_PIN, reason="lost", by=alice)
    member.refresh_from_db()
    codes = [RetiredCode.objects.get().code, member.code]
    withdraw(member, alice, 366, monkeypatch)
    entries = list(LedgerEntry.objects.filter(member=member).values_list("id", "hash"))
    checkpoint = take(keys, tmp_path / "before.json")

    assert "members who left (code replaced, PIN and consent dropped) (kept 365 days): 1 would go" in purge("--dry-run")
    purge()

    member.refresh_from_db()
    assert member.forgotten_at is not None and member.code not in codes
    assert not member.check_pin(NEW_PIN) and not member.check_pin(PIN)
    assert member.consent_version == "" and member.consent_given_at is None
    assert not RetiredCode.objects.exists() and ForgottenCode.objects.count() == 2
    assert list(LedgerEntry.objects.filter(member=member).values_list("id", "hash")) == entries
    for command in ("verify_ledger", "verify_audit"):
        assert "extends the checkpoint" in verify(command, checkpoint, keys[1])
    record = AuditRecord.objects.get(action="member.forgotten")
    assert record.target_id == str(member.pk) and not any(c in str(record.new) + record.target_repr for c in codes)
    assert AuditRecord.objects.get(action="retention.purged").new["removed"]["members_left"] == 1

    # Neither old code finds anything: not on the status page, not at the desk.
    for code in codes:
        assert "do not match" in status(format_code(code), NEW_PIN)
    client.force_login(alice)
    said = client.post(reverse("admin:distributions_desk"), {"code": format_code(codes[0])}, follow=True).content.decode()
    assert "No member of your groups has this code." in said and "replaced" not in said
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert page.status_code == 200 and member.display_code in page.content.decode()


def test_members_withdrawn_recently_active_or_suspended_are_kept(alice, group_a, member, monkeypatch):
    withdraw(member, alice, 300, monkeypatch)
    suspended = f.MemberFactory(group=group_a, created_by=alice)
    members.member_set_status(member=suspended, status=Member.Status.SUSPENDED, reason="safety", by=alice)
    f.MemberFactory(group=group_a, created_by=alice)
    purge()
    assert not Member.objects.filter(forgotten_at__isnull=False).exists()


def test_the_programme_sets_how_long_members_who_left_are_kept(settings, alice, member, monkeypatch):
    withdraw(member, alice, 40, monkeypatch)
    settings.RETENTION = {**settings.RETENTION, "members_left": dt.timedelta(days=30)}
    purge()
    member.refresh_from_db()
    assert member.forgotten_at is not None


def test_a_forgotten_member_cannot_be_reinstated_renewed_or_given_a_pin(alice, member, monkeypatch):
    withdraw(member, alice, 400, monkeypatch)
    members.member_forget(member=member)
    member.refresh_from_db()
    for call in (lambda: members.member_set_status(member=member, status="active", reason="reinstated", by=alice),
                 lambda: members.member_reset_pin(member=member, pin=NEW_PIN, by=alice),
                 lambda: members.member_renew(member=member, by=alice),
                 lambda: members.member_forget(member=member)):
        with pytest.raises(ServiceError) as refused:
            call()
        assert refused.value.code == "member_forgotten"


def test_only_a_withdrawn_member_is_forgotten(member):
    with pytest.raises(ServiceError) as refused:
        members.member_forget(member=member)
    assert refused.value.code == "member_not_withdrawn"


def test_a_forgotten_code_is_never_given_out_again(alice, group_a, member, monkeypatch):
    old = member.code
    withdraw(member, alice, 400, monkeypatch)
    members.member_forget(member=member)
    from members import codes

    fresh = iter([old[:11], old[:11], "Q" * 11])
    monkeypatch.setattr(members, "generate_code", lambda: (lambda body: body + codes.check_symbol(body))(next(fresh)))
    enrolled = members.member_enrol(group=group_a, pin=NEW_PIN, consent_version="2022-04", by=alice)
    assert enrolled.code != old


def test_a_purge_overlapping_another_skips_the_members_it_already_forgot(alice, member, monkeypatch):
    from compassionclub import retention

    withdraw(member, alice, 400, monkeypatch)
    members.member_forget(member=member)
    # What the second of two overlapping purges sees: its list was read before the first wrote.
    monkeypatch.setattr(retention, "members_left_before", lambda cutoff: Member.objects.filter(pk=member.pk))
    assert retention.purge()["members_left"] == 0
