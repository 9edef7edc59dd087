"""The renewals worklist: members due in the next 30 days or overdue, renewed from the list
through the service (audited), scoped to the coordinator's groups."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from members.models import Member
from tests import factories as f

pytestmark = pytest.mark.django_db
URL = reverse("admin:members_member_renewals")


def due_in(days: int, group, by, **kwargs) -> Member:
    today = timezone.localdate()
    return f.MemberFactory(group=group, created_by=by, enrolled_on=today - dt.timedelta(days=365),
                           renewal_due=today + dt.timedelta(days=days), **kwargs)


def test_the_list_shows_members_due_in_30_days_or_overdue_soonest_first(client, alice, bob, group_a, group_b):
    overdue = due_in(-3, group_a, alice)
    soon = due_in(10, group_a, alice)
    edge = due_in(30, group_a, alice)
    later = due_in(31, group_a, alice)
    withdrawn = due_in(5, group_a, alice, status=Member.Status.WITHDRAWN)
    elsewhere = due_in(5, group_b, bob)
    client.force_login(alice)
    html = client.get(URL).content.decode()
    codes = [m.display_code for m in (overdue, soon, edge)]
    assert all(code in html for code in codes)
    assert [html.index(code) for code in codes] == sorted(html.index(code) for code in codes)
    assert "overdue by 3 days" in html and "in 10 days" in html
    for hidden in (later, withdrawn, elsewhere):
        assert hidden.display_code not in html
    assert URL in client.get(reverse("admin:index")).content.decode()


def test_renewing_from_the_list_goes_through_the_service_and_back_to_the_list(client, alice, bob, group_a):
    member = due_in(-3, group_a, alice)
    client.force_login(alice)
    response = client.post(URL, {"member": member.pk, "age_attested": "on", "consent_version": ""})
    assert response.status_code == 302 and response["Location"] == URL
    member.refresh_from_db()
    assert member.renewal_due == timezone.localdate() + dt.timedelta(days=365)
    page = client.get(response["Location"]).content.decode()
    assert f"{member.display_code} renewed until" in page
    assert f'id="renewal-{member.pk}"' not in page  # off the list now
    assert AuditRecord.objects.filter(action="member.renewed", actor=alice).count() == 1

    # Without the age attestation nothing is renewed; another group's coordinator cannot renew.
    other = due_in(2, group_a, alice)
    client.post(URL, {"member": other.pk})
    assert "was not renewed" in client.get(URL).content.decode()
    client.force_login(bob)
    client.post(URL, {"member": other.pk, "age_attested": "on"})
    other.refresh_from_db()
    assert other.renewal_due == timezone.localdate() + dt.timedelta(days=2)
    assert AuditRecord.objects.filter(action="member.renewed").count() == 1


def test_the_list_is_for_those_who_may_change_members(client, erin):
    client.force_login(erin)
    assert client.get(URL).status_code == 403
