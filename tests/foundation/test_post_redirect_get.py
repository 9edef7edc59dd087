"""Every admin page that writes answers its POST with a redirect, so reloading the page that
follows repeats nothing; and what was done through those pages is in the admin's "Recent
actions" of the person who did it (the audit trail stays the record)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from members.models import Member
from testing_results.models import Batch
from tests.builders import receipt_fields

pytestmark = pytest.mark.django_db


def recent_actions(client) -> str:
    page = client.get(reverse("admin:index")).content.decode()
    return page.split('id="recent-actions-module"', 1)[1].split("</div>", 1)[0]


def post_then_reload(client, url: str, data: dict):
    """POST, expect a redirect, follow it twice (a reload): the GETs write nothing."""
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:1500]
    before = AuditRecord.objects.exclude(action__endswith=".viewed").count()
    for _ in range(2):
        assert client.get(response["Location"]).status_code == 200
    assert AuditRecord.objects.exclude(action__endswith=".viewed").count() == before
    return response


def test_member_pages_redirect_after_their_post_and_show_in_recent_actions(client, alice, group_a):
    client.force_login(alice)
    post_then_reload(client, reverse("admin:members_member_enrol"), {
        "group": group_a.pk, "consent_version": "2022-04", "age_attested": "on", "pin": "730194", "pin_again": "730194",
    })
    member = Member.objects.get()
    assert Member.objects.count() == 1
    post_then_reload(client, reverse("admin:members_member_reset_pin", args=[member.pk]),
                     {"pin": "591730", "pin_again": "591730"})
    post_then_reload(client, reverse("admin:members_member_status", args=[member.pk]),
                     {"status": "suspended", "reason": "safety"})
    post_then_reload(client, reverse("admin:members_member_status", args=[member.pk]),
                     {"status": "active", "reason": "reinstated"})
    Member.objects.filter(pk=member.pk).update(renewal_due=timezone.localdate() + dt.timedelta(days=5))
    post_then_reload(client, reverse("admin:members_member_renew", args=[member.pk]), {"age_attested": "on"})

    logged = LogEntry.objects.filter(user=alice, object_id=str(member.pk)).order_by("pk")
    assert [(e.action_flag, e.change_message) for e in logged] == [
        (ADDITION, "Enrolled."),
        (CHANGE, "PIN reset."),
        (CHANGE, "Status set to suspended."),
        (CHANGE, "Status set to active."),
        (CHANGE, f"Renewed until {timezone.localdate() + dt.timedelta(days=370):%Y-%m-%d}."),
    ]
    recent = recent_actions(client)
    assert member.display_code in recent and "Enrolled." not in recent  # Django lists the object, not the message
    assert recent.count(member.display_code) == 5


def test_batch_pages_redirect_after_their_post_and_releases_and_recalls_show_in_recent_actions(
    client, heroin, clean_checks, erin, dana
):
    client.force_login(erin)
    post_then_reload(client, reverse("admin:testing_results_batch_add"), {
        "substance": heroin.pk, "received_grams": "120.000", "received_on": timezone.localdate().isoformat(),
        "best_before": "", **receipt_fields(),
    })
    batch = Batch.objects.get()
    clean_checks(batch)
    client.force_login(dana)
    for action, reason in [("release", "All checks passed."), ("hold", "Drug alert under review."),
                           ("release", "The alert is about another lot."), ("recall", "Nitazene found by a partner lab.")]:
        post_then_reload(client, reverse(f"admin:testing_results_batch_{action}", args=[batch.pk]), {"reason": reason})
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RECALLED
    assert list(LogEntry.objects.filter(user=dana).order_by("pk").values_list("change_message", flat=True)) == [
        "Released: All checks passed.", "Held: Drug alert under review.",
        "Released: The alert is about another lot.", "Recalled: Nitazene found by a partner lab.",
    ]
    assert recent_actions(client).count(batch.code) == 4
    assert LogEntry.objects.filter(user=erin, action_flag=ADDITION, object_id=str(batch.pk)).exists()


def test_the_browsers_icon_request_is_answered_without_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 204 and "max-age" in response["Cache-Control"]
