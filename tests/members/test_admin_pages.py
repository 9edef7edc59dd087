"""The member pages in the admin: enrol, card, PIN reset, status, renewal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from members.models import Member
from members.services import member_enrol


@pytest.fixture
def member(group_a, alice):
    return member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice)


def login(client, user):
    client.force_login(user)
    return client


def test_the_add_page_is_the_enrolment_page(client, alice, pat):
    response = login(client, alice).get(reverse("admin:members_member_add"))
    assert response.status_code == 200 and "PIN chosen by the member" in response.content.decode()
    response = login(client, pat).get(reverse("admin:members_member_add"))
    assert "Only a coordinator of an active group can enrol" in response.content.decode()


def test_the_enrolled_page_is_only_for_the_members_coordinators(client, bob, member):
    url = reverse("admin:members_member_enrolled", args=[member.pk])
    assert login(client, bob).get(url).status_code == 404


def test_a_coordinator_enrols_and_sees_the_code_once(client, alice, group_a):
    login(client, alice)
    url = reverse("admin:members_member_enrol")
    assert client.get(url).status_code == 200
    response = client.post(url, {"group": group_a.pk, "consent_version": "2022-04", "age_attested": "on",
                                 "pin": "730194", "pin_again": "730194"})
    member = Member.objects.get()
    # Post/redirect/get: the page after enrolling is a GET, so reloading it enrols nobody.
    assert response.status_code == 302
    assert response.url == reverse("admin:members_member_enrolled", args=[member.pk])
    response = client.get(response.url)
    assert client.get(response.wsgi_request.path).status_code == 200
    assert Member.objects.count() == 1
    html = response.content.decode()
    assert member.display_code in html and "730194" not in html
    assert member.check_pin("730194")


def test_enrolment_refusals_are_form_errors_and_store_nothing(client, alice, group_a):
    login(client, alice)
    url = reverse("admin:members_member_enrol")
    weak = client.post(url, {"group": group_a.pk, "consent_version": "2022-04", "age_attested": "on",
                             "pin": "123456", "pin_again": "123456"})
    assert weak.status_code == 200 and "too easy to guess" in weak.content.decode()
    differ = client.post(url, {"group": group_a.pk, "consent_version": "2022-04", "age_attested": "on",
                               "pin": "730194", "pin_again": "730195"})
    assert "The two PINs differ." in differ.content.decode()
    assert not Member.objects.exists()


def test_a_coordinator_cannot_enrol_into_another_group(client, alice, group_b):
    response = login(client, alice).post(reverse("admin:members_member_enrol"), {
        "group": group_b.pk, "consent_version": "2022-04", "age_attested": "on", "pin": "730194", "pin_again": "730194",
    })
    assert response.status_code == 200 and not Member.objects.exists()


def test_the_card_shows_code_qr_and_status_address_never_the_pin_and_is_logged(client, alice, member):
    response = login(client, alice).get(reverse("admin:members_member_card", args=[member.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert member.display_code in html
    card = html[html.index('class="member-card"'):html.index("</section>")]
    assert "<svg" in card and "<script" not in card and "style=" not in card
    assert "http://testserver/status/" in html
    assert "482915" not in html
    assert AuditRecord.objects.filter(action="member.card_viewed", target_id=str(member.pk)).count() == 1


def test_another_groups_coordinator_gets_a_404_on_every_member_page(client, bob, member):
    login(client, bob)
    for name in ["members_member_card", "members_member_reset_pin", "members_member_status", "members_member_renew"]:
        assert client.get(reverse(f"admin:{name}", args=[member.pk])).status_code == 404, name
    assert not AuditRecord.objects.filter(action="member.card_viewed").exists()


def test_pin_reset_status_change_and_renewal_through_the_pages(client, alice, carol, member):
    login(client, carol)
    response = client.post(reverse("admin:members_member_reset_pin", args=[member.pk]),
                           {"pin": "730194", "pin_again": "730194"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_pin("730194")

    response = client.post(reverse("admin:members_member_status", args=[member.pk]),
                           {"status": "suspended", "reason": "safety"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Member.Status.SUSPENDED

    unchanged = client.post(reverse("admin:members_member_status", args=[member.pk]),
                            {"status": "suspended", "reason": "rules"})
    assert unchanged.status_code == 200 and "already suspended" in unchanged.content.decode()

    Member.objects.filter(pk=member.pk).update(renewal_due=timezone.localdate() + dt.timedelta(days=5))
    response = client.post(reverse("admin:members_member_renew", args=[member.pk]), {"age_attested": "on"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.renewal_due == timezone.localdate() + dt.timedelta(days=370)


def test_the_change_page_edits_nothing_directly(client, alice, member):
    login(client, alice)
    url = reverse("admin:members_member_change", args=[member.pk])
    page = client.get(url)
    assert page.status_code == 200 and reverse("admin:members_member_card", args=[member.pk]) in page.content.decode()
    client.post(url, {"status": "withdrawn", "renewal_due": "2099-01-01"})
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_the_member_page_offers_no_save_buttons(client, alice, root, member):
    # Every field is read-only; changes go through the enrol, status, PIN and renewal pages.
    for user in (alice, root):
        html = login(client, user).get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
        assert 'name="_save"' not in html and 'name="_continue"' not in html and 'name="_addanother"' not in html
        assert "Change status" in html


@pytest.mark.django_db
def test_a_status_change_needs_a_reason_chosen_none_is_picked_in_advance(client, alice, member):
    client.force_login(alice)
    url = reverse("admin:members_member_status", args=[member.pk])
    form = client.get(url).content.decode()
    assert '<option value="" selected>Choose…</option>' in form
    refused = client.post(url, {"status": "suspended"})
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
