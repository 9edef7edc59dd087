"""A member code is shown only as printed on the card (dashed), on every page that shows one:
the member page, the lists, the history of a member, the ledger, replaced cards, the desk, the
card. The stored form (no dashes) stays in form fields and URLs, where nobody reads it; the
CSV exports keep their documented columns (the stored form, see the README's auditor section)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from distributions.models import LedgerEntry
from members.codes import format_code
from members.models import RetiredCode, StatusReason
from members.services import member_card_reissue, member_enrol, member_set_status
from tests import factories as f
from tests.builders import Stock

pytestmark = pytest.mark.django_db


def visible_text(html: str) -> str:
    """What a reader sees: no scripts or styles, no tags, so no attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def served(group_a, alice, erin, dana, pat):
    member = member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice)
    old = member.code
    member_card_reissue(member=member, pin="730194", reason=RetiredCode.Reason.LOST, by=alice)
    member.refresh_from_db()
    member_set_status(member=member, status=member.Status.SUSPENDED, reason=StatusReason.OTHER, by=alice)
    member_set_status(member=member, status=member.Status.ACTIVE, reason=StatusReason.OTHER, by=alice)
    entry = Stock(checker=erin, officer=dana, admin=pat).hand_out(member, f.SubstanceFactory(name="Heroin"), "2")
    return member, old, entry


def pages(member, entry) -> list[str]:
    change = reverse("admin:members_member_change", args=[member.pk])
    return [
        reverse("admin:members_member_changelist"),
        change,
        reverse("admin:members_member_history", args=[member.pk]),
        reverse("admin:members_memberstatuschange_changelist"),
        reverse("admin:distributions_ledgerentry_changelist"),
        reverse("admin:distributions_ledgerentry_change", args=[entry.pk]),
        reverse("admin:members_member_renewals"),
        reverse("admin:members_member_card", args=[member.pk]),
        reverse("admin:members_member_reset_pin", args=[member.pk]),
        reverse("admin:members_member_reissue", args=[member.pk]),
    ]


def test_a_coordinator_sees_codes_only_dashed(client, alice, served):
    member, old, entry = served
    client.force_login(alice)
    for url in pages(member, entry):
        response = client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        assert member.code not in text and old not in text, url
    change = visible_text(client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode())
    assert format_code(member.code) in change
    # The desk, after a lookup typed as printed.
    desk = client.post(reverse("admin:distributions_desk"), {"code": format_code(member.code).lower()}, follow=True)
    text = visible_text(desk.content.decode())
    assert format_code(member.code) in text and member.code not in text


def test_an_auditor_sees_old_and_new_codes_only_dashed(client, charlie, served):
    member, old, entry = served
    retired = RetiredCode.objects.get(code=old)
    client.force_login(charlie)
    for url in [*pages(member, entry)[:6], reverse("admin:members_retiredcode_changelist"),
                reverse("admin:members_retiredcode_change", args=[retired.pk])]:
        response = client.get(url)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        assert member.code not in text and old not in text, url
    for url in (reverse("admin:members_member_change", args=[member.pk]),
                reverse("admin:members_retiredcode_change", args=[retired.pk])):
        text = visible_text(client.get(url).content.decode())
        assert format_code(old) in text and format_code(member.code) in text, url
    assert LedgerEntry.objects.filter(member=member).count() == 1
