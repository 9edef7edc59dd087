"""Adverse-event reports: coded, optionally naming a member of the reporter's own group; a
severe one holds the batch in the reporting transaction with its notices; moderate ones hold
it at the programme's threshold; counts on the batch page and the dashboard."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.recalls.adverse_events import adverse_event_report, adverse_threshold_set
from distributions.recalls.models import AdverseEvent, RecallNotice
from testing_results.models import Batch
from tests.distributions.ledger_helpers import batch_at_group


def report(batch, by, outcome="unexpected_sedation", severity="moderate", member=None, at=None):
    return adverse_event_report(
        batch=batch, occurred_at=at or timezone.now() - dt.timedelta(hours=1), outcome=outcome, severity=severity,
        by=by, member=member,
    )


def status(batch):
    return Batch.objects.values_list("status", flat=True).get(pk=batch.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", ["naloxone", "emergency_services", "hospital", "death"])
def test_a_severe_report_holds_the_batch_at_once_with_its_notices(out_in_groups, alice, outcome):
    batch, (a1, _a2, _b1) = out_in_groups
    event = report(batch, alice, outcome=outcome, severity="severe", member=a1)
    assert event.held_batch and status(batch) == Batch.Status.ON_HOLD
    assert set(RecallNotice.objects.filter(batch=batch).values_list("group__short_name", flat=True)) == {"VANDU", "SOLID"}
    assert batch.status_history.latest("changed_at").reason.startswith("Put on hold automatically: a severe adverse event")
    assert AuditRecord.objects.filter(action="adverse_event.reported", target_id=str(event.pk)).count() == 1


@pytest.mark.django_db
def test_anything_reported_as_severe_holds_it_and_a_drug_checker_may_report(out_in_groups, erin):
    batch, _ = out_in_groups
    assert report(batch, erin, outcome="other", severity="severe").held_batch
    assert status(batch) == Batch.Status.ON_HOLD


@pytest.mark.django_db
def test_moderate_reports_hold_at_the_default_threshold_of_two_within_seven_days(out_in_groups, alice, bob):
    batch, _ = out_in_groups
    Batch.objects.filter(pk=batch.pk).update(received_on=timezone.localdate() - dt.timedelta(days=30))
    now = timezone.now()
    assert not report(batch, alice, at=now - dt.timedelta(days=10)).held_batch
    assert not report(batch, bob, outcome="skin_reaction", severity="mild").held_batch
    assert not report(batch, alice, at=now - dt.timedelta(days=2)).held_batch  # 8 days after the first
    assert status(batch) == Batch.Status.RELEASED
    second = report(batch, bob, at=now - dt.timedelta(hours=3))
    assert second.held_batch and status(batch) == Batch.Status.ON_HOLD
    # Once held, further reports are recorded without a second hold.
    assert not report(batch, alice, outcome="hospital", severity="severe").held_batch
    assert AdverseEvent.objects.filter(batch=batch).count() == 5


@pytest.mark.django_db
def test_the_programme_admin_sets_the_threshold(out_in_groups, pat, alice, dana):
    batch, _ = out_in_groups
    with pytest.raises(ServiceError) as refused:
        adverse_threshold_set(moderate_count=3, window_days=14, by=dana)
    assert refused.value.code == "not_permitted"
    with pytest.raises(ServiceError) as refused:
        adverse_threshold_set(moderate_count=0, window_days=14, by=pat)
    assert refused.value.code == "threshold_invalid"
    adverse_threshold_set(moderate_count=3, window_days=14, by=pat)
    assert not report(batch, alice).held_batch and not report(batch, alice).held_batch
    assert report(batch, alice).held_batch


@pytest.mark.django_db
def test_bad_reports_are_refused_and_nothing_is_stored(out_in_groups, alice, bob, dana, pat, erin, group_a):
    batch, (a1, _a2, b1) = out_in_groups
    quarantined = batch_at_group(group_a, pat, grams="5.000")
    Batch.objects.filter(pk=quarantined.pk).update(status=Batch.Status.QUARANTINED)
    cases = [
        ({"batch": batch, "by": alice, "member": b1}, "member_not_in_your_group"),
        ({"batch": batch, "by": erin, "member": a1}, "member_not_in_your_group"),
        ({"batch": batch, "by": alice, "at": timezone.now() + dt.timedelta(hours=1)}, "occurred_in_future"),
        ({"batch": batch, "by": alice, "at": timezone.now() - dt.timedelta(days=400)}, "occurred_before_receipt"),
        ({"batch": batch, "by": alice, "outcome": "hospital", "severity": "moderate"}, "severity_mismatch"),
        ({"batch": batch, "by": alice, "outcome": "sneezing"}, "outcome_invalid"),
        ({"batch": batch, "by": alice, "severity": "catastrophic"}, "severity_invalid"),
        ({"batch": batch, "by": dana}, "not_permitted"),
        ({"batch": batch, "by": pat}, "not_permitted"),
        ({"batch": quarantined, "by": alice}, "batch_never_released"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as refused:
            report(**kwargs)
        assert refused.value.code == code, kwargs
    assert not AdverseEvent.objects.exists() and status(batch) == Batch.Status.RELEASED
    assert not RecallNotice.objects.exists()


@pytest.mark.django_db
def test_the_report_page_names_only_own_members_and_redirects_after_post(client, out_in_groups, alice):
    batch, (a1, _a2, b1) = out_in_groups
    client.force_login(alice)
    url = reverse("admin:recalls_adverse_event")
    when = (timezone.localtime() - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"batch": batch.pk, "occurred_at": when, "outcome": "naloxone", "severity": "severe", "code": b1.display_code}
    page = client.post(url, data).content.decode()
    assert "No member of your groups has this code." in page and not AdverseEvent.objects.exists()
    response = client.post(url, {**data, "code": a1.display_code})
    assert response.status_code == 302 and response["Location"] == url
    assert AdverseEvent.objects.get().member == a1 and status(batch) == Batch.Status.ON_HOLD
    assert "now on hold" in client.get(url).content.decode()


@pytest.mark.django_db
def test_counts_show_on_the_batch_page_and_the_dashboard_without_member_codes(client, out_in_groups, alice, dana):
    batch, (a1, _a2, _b1) = out_in_groups
    report(batch, alice, member=a1)
    report(batch, alice, outcome="naloxone", severity="severe")
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Adverse events reported: 2 (severe 1, moderate 1, mild 0)" in page
    assert "Naloxone given" in page and "Unexpected sedation" in page
    dashboard = client.get(reverse("admin:index")).content.decode()
    row = dashboard.split('id="dashboard-adverse"')[1].split("</table>")[0]
    assert batch.code in row and "<td>1</td><td>1</td><td>0</td><td>2</td>" in row
    for body in (page, dashboard):
        assert a1.code not in body and a1.display_code not in body


@pytest.mark.django_db
def test_only_reporters_open_the_report_page_and_only_programme_admins_change_the_threshold(client, dana, pat, charlie, alice):
    for user, report_page, threshold in ((dana, 403, 403), (charlie, 403, 403), (pat, 403, 200), (alice, 200, 403)):
        client.force_login(user)
        assert client.get(reverse("admin:recalls_adverse_event")).status_code == report_page, user
        assert client.get(reverse("admin:recalls_threshold")).status_code == threshold, user
    client.force_login(pat)
    response = client.post(reverse("admin:recalls_threshold"), {"moderate_count": "3", "window_days": "10"})
    assert response.status_code == 302
    assert "3 moderate reports within 10 days" in client.get(reverse("admin:recalls_threshold")).content.decode()
