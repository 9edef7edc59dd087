"""Lost cards: a coordinator issues a new card (new code and PIN); the old code is refused at
the desk and on the status page from then on, the member keeps history, allowance and recall
alerts; only auditors see which old code belonged to whom; every step is audited."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.exports.base import ExportParams
from distributions.exports.services import export_run
from members import services as members
from members.codes import format_code
from members.models import Member, RetiredCode
from testing_results.services import batch_recall
from tests import factories as f
from tests.builders import Stock, released_stock

pytestmark = pytest.mark.django_db

PIN, NEW_PIN = "482915", "730194"


@pytest.fixture
def heroin(db):
    return f.SubstanceFactory(name="Heroin")


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


@pytest.fixture
def stock(erin, dana, pat):
    return Stock(checker=erin, officer=dana, admin=pat)


def status(code: str, pin: str) -> str:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9")
    token = client.get("/status/").cookies["csrftoken"].value
    return client.post("/status/", {"code": code, "pin": pin, "csrfmiddlewaretoken": token}).content.decode()


def ledger_rows(user) -> list[dict[str, str]]:
    output = export_run(identifier="ledger", user=user, params=ExportParams(), fmt="csv")
    rows = csv.DictReader(io.StringIO(b"".join(output.chunks).decode()))
    return [row for row in rows if row["entry_id"].isdigit()]  # the verification rows left out


def test_a_new_card_keeps_history_allowance_and_recall_alerts_and_the_old_code_stops_working(
    client, alice, bob, charlie, dana, member, heroin, stock
):
    batch = released_stock(member.group, heroin, checker=stock.checker, officer=stock.officer, admin=stock.admin)
    stock.hand_out(member, batch, "3")
    batch_recall(batch=batch, by=dana, reason="Fentanyl found by a later mass spectrometry check.")
    old = member.code

    client.force_login(alice)
    url = reverse("admin:members_member_reissue", args=[member.pk])
    assert "New card (lost, stolen, damaged)" in client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    response = client.post(url, {"reason": "lost", "pin": NEW_PIN, "pin_again": NEW_PIN})
    assert response.status_code == 302 and response["Location"] == reverse("admin:members_member_card", args=[member.pk])
    member.refresh_from_db()
    assert member.code != old and member.check_pin(NEW_PIN)
    card = client.get(response["Location"]).content.decode()
    assert member.display_code in card and f"The old code {format_code(old)} no longer works" in card
    assert Member.objects.count() == 1 and RetiredCode.objects.get().code == old

    # The status page: the old card is an unknown code; the new one shows the same history.
    unknown = status(format_code(old), PIN)
    assert "do not match" in unknown and "Recall" not in unknown
    page = status(member.display_code, NEW_PIN)
    assert "Recall: do not use" in page and batch.code in page
    assert "11 g left of 14 g per 7 days" in page

    # The desk: the member's coordinator is told the card was replaced; anyone else, not found.
    desk = reverse("admin:distributions_desk")
    said = client.post(desk, {"code": format_code(old).lower()}).content.decode()
    assert "This card was replaced by a new one" in said and member.display_code not in said
    client.force_login(bob)
    said = client.post(desk, {"code": old}).content.decode()
    assert "No member of your groups has this code." in said and "replaced" not in said

    # Exports: the ledger names the member by the new code; the old one only for auditors.
    for row in ledger_rows(charlie):
        if row["member_id"] == str(member.pk):
            assert row["member_code"] == member.code and row["member_previous_codes"] == old
    for row in ledger_rows(alice):
        assert row["member_previous_codes"] == ""
        if row["member_id"] == str(member.pk):
            assert row["member_code"] == member.code

    # The member page: the replacement for the coordinator, the old code for auditors only.
    client.force_login(alice)
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert 'id="member-cards"' in page and format_code(old) not in page
    client.force_login(charlie)
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert format_code(old) in page
    assert client.get(reverse("admin:members_retiredcode_changelist")).status_code == 200
    client.force_login(alice)
    assert client.get(reverse("admin:members_retiredcode_changelist")).status_code == 403

    record = AuditRecord.objects.get(action="member.card_reissued")
    assert record.actor == alice and record.old == {"code": old} and record.new["code"] == member.code
    assert NEW_PIN not in str(record.new)


def test_only_the_members_coordinator_issues_a_new_card_and_never_for_a_withdrawn_member(bob, alice, member):
    with pytest.raises(ServiceError) as refused:
        members.member_card_reissue(member=member, pin=NEW_PIN, reason="lost", by=bob)
    assert refused.value.code == "not_coordinator"
    with pytest.raises(ServiceError) as refused:
        members.member_card_reissue(member=member, pin="123456", reason="lost", by=alice)
    assert refused.value.code.startswith("pin_")
    with pytest.raises(ServiceError) as refused:
        members.member_card_reissue(member=member, pin=NEW_PIN, reason="forgot", by=alice)
    assert refused.value.code == "reason_invalid"
    Member.objects.filter(pk=member.pk).update(status=Member.Status.WITHDRAWN)
    with pytest.raises(ServiceError) as refused:
        members.member_card_reissue(member=member, pin=NEW_PIN, reason="lost", by=alice)
    assert refused.value.code == "member_withdrawn"
    assert not RetiredCode.objects.exists()


def test_a_replaced_code_is_never_given_out_again(alice, group_a, member, monkeypatch):
    old = member.code
    members.member_card_reissue(member=member, pin=NEW_PIN, reason="stolen", by=alice)
    fresh = iter([old, old, "Q" * 11])
    from members import codes

    monkeypatch.setattr(members, "generate_code", lambda: (lambda body: body + codes.check_symbol(body))(next(fresh)[:11]))
    enrolled = members.member_enrol(group=group_a, pin=NEW_PIN, consent_version="2022-04", by=alice)
    assert enrolled.code not in {old, member.code}
    assert enrolled.enrolled_on == timezone.localdate()
