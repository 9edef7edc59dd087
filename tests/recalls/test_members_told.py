"""The desk warns about a held or recalled batch the member received; the coordinator records
that the member was told, and a member who sees the alert on the status page counts as told
(stored as the member and the time only). The recalled grams still count against the
allowance: the member had them (a replacement does not count, see test_replacement)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services as ledger
from distributions.eligibility import check_eligibility
from distributions.recalls import services
from distributions.recalls.models import MemberTold, RecallNotice, StatusAlertSeen
from distributions.recalls.selectors import member_alerts, told_count
from testing_results import services as testing
from tests import factories as f
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in


def lookup(client, member) -> str:
    return client.post(reverse("admin:distributions_desk"), {"code": member.display_code}, follow=True).content.decode()


@pytest.mark.django_db
def test_the_desk_warns_about_a_recalled_batch_the_member_received(client, out_in_groups, dana, alice):
    batch, (a1, a2, b1) = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found.")
    client.force_login(alice)
    page = lookup(client, a1)
    warning = page.split('id="desk-recall-warning"')[1].split("</div>")[0]
    assert f"Recalled: batch {batch.code}" in warning and "3.500 g received" in warning
    assert "Member told" in warning and warning.startswith(' role="alert"')
    # Above the allowance table and the distribution form.
    assert page.index('id="desk-recall-warning"') < page.index('id="desk-allowances"')


@pytest.mark.django_db
def test_a_held_batch_warns_too_and_a_member_with_nothing_recalled_sees_no_warning(client, out_in_groups, dana, alice, group_a):
    batch, (a1, _a2, _b1) = out_in_groups
    testing.batch_hold(batch=batch, by=dana, reason="Adverse events.")
    client.force_login(alice)
    assert f"On hold: batch {batch.code}" in lookup(client, a1)
    assert 'id="desk-recall-warning"' not in lookup(client, member_in(group_a))


@pytest.mark.django_db
def test_a_reversed_handout_is_not_warned_about(client, group_a, alice, pat, dana):
    batch = batch_at_group(group_a, pat, grams="10.000")
    member = member_in(group_a)
    entry = ledger.distribution_record(member=member, batch=batch, grams=Decimal("1.000"), by=alice, idempotency_key=key())
    ledger.entry_reverse(entry=entry, reason="entered_by_mistake", by=alice)
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    assert member_alerts(member) == []


@pytest.mark.django_db
def test_member_told_is_recorded_once_audited_and_counted_on_the_notice(client, out_in_groups, dana, alice):
    batch, (a1, a2, _b1) = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    notice = RecallNotice.objects.get(batch=batch, group=a1.group)
    assert told_count(notice) == 0
    client.force_login(alice)
    data = {"code": a1.display_code, "batch": batch.pk}
    response = client.post(reverse("admin:distributions_desk_told"), data)
    assert response.status_code == 302 and response["Location"] == reverse("admin:distributions_desk")
    assert MemberTold.objects.filter(member=a1, batch=batch, told_by=alice).count() == 1
    assert AuditRecord.objects.filter(action="recall.member_told").count() == 1
    # Reloading the POST records nothing more.
    client.post(reverse("admin:distributions_desk_told"), data)
    assert MemberTold.objects.count() == 1
    assert told_count(notice) == 1
    page = lookup(client, a1)
    assert "Told at the desk on" in page and "recall-told-button" not in page
    assert "1 of them has been told" in client.get(reverse("admin:recalls_notice", args=[notice.pk])).content.decode()


@pytest.mark.django_db
def test_member_told_refusals(out_in_groups, group_a, dana, alice, bob, pat):
    batch, (a1, _a2, b1) = out_in_groups
    released = batch_at_group(group_a, pat, grams="5.000")
    with pytest.raises(ServiceError) as refused:
        services.member_told_record(member=a1, batch=batch, by=alice)
    assert refused.value.code == "batch_not_recalled"
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    cases = [
        ({"member": a1, "batch": batch, "by": bob}, "not_coordinator"),
        ({"member": b1, "batch": batch, "by": alice}, "not_coordinator"),
        ({"member": member_in(group_a), "batch": batch, "by": alice}, "batch_not_received"),
        ({"member": a1, "batch": released, "by": alice}, "batch_not_recalled"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as refused:
            services.member_told_record(**kwargs)
        assert refused.value.code == code
    services.member_told_record(member=a1, batch=batch, by=alice)
    with pytest.raises(ServiceError) as refused:
        services.member_told_record(member=a1, batch=batch, by=alice)
    assert refused.value.code == "already_told"
    assert MemberTold.objects.count() == 1


@pytest.mark.django_db
def test_seeing_the_alert_on_the_status_page_counts_as_told_and_stores_only_member_and_time(
    group_a, alice, pat, dana, pin_hash
):
    batch = batch_at_group(group_a, pat, grams="10.000")
    member = f.MemberFactory(group=group_a, created_by=alice)
    ledger.distribution_record(member=member, batch=batch, grams=Decimal("2.000"), by=alice, idempotency_key=key())
    status = Client(enforce_csrf_checks=False, REMOTE_ADDR="203.0.113.7")
    status.post("/status/", {"code": member.display_code, "pin": "482915"})
    assert not StatusAlertSeen.objects.exists()  # nothing recalled yet: nothing kept
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    page = status.post("/status/", {"code": member.display_code, "pin": "482915"}).content.decode()
    assert batch.code in page
    (seen,) = StatusAlertSeen.objects.all()
    assert seen.member_id == member.pk
    assert {f.name for f in StatusAlertSeen._meta.concrete_fields} == {"id", "member", "seen_at"}
    assert told_count(RecallNotice.objects.get(batch=batch)) == 1
    (alert,) = member_alerts(member)
    assert alert.seen_at == seen.seen_at and alert.told_at is None and alert.told


@pytest.mark.django_db
def test_the_recalled_grams_still_count_against_the_allowance(out_in_groups, dana):
    batch, (a1, _a2, _b1) = out_in_groups
    before = check_eligibility(a1).allowances[batch.substance_id].remaining_grams
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    assert check_eligibility(a1).allowances[batch.substance_id].remaining_grams == before
    assert before == D("14.000") - D("3.500")
