"""Admin pages for allowance policies and overrides: every write through the services, refusals
as form errors, and an override approved by a second coordinator who confirms in person."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.models import AllowanceOverride, AllowancePolicy
from distributions.services import allowance_override_grant
from tests import factories as f

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory
POLICY_ADD = "admin:distributions_allowancepolicy_add"
OVERRIDE_ADD = "admin:distributions_allowanceoverride_add"


@pytest.fixture
def member(group_a, alice):
    return f.MemberFactory(group=group_a, created_by=alice, pin="pbkdf2_sha256$1$admintest$unused")


def errors_of(response) -> str:
    return " ".join(str(e) for e in response.context["form"].errors.values())


# --- policies ---------------------------------------------------------------------------------


def test_a_programme_admin_sets_the_programme_allowance_through_the_service(client, pat, heroin):
    client.force_login(pat)
    response = client.post(reverse(POLICY_ADD), {"substance": heroin.pk, "group": "", "max_grams": "10", "window_days": "7"})
    assert response.status_code == 302
    policy = AllowancePolicy.objects.get(substance=heroin, group=None)
    assert (policy.max_grams, policy.window_days, policy.created_by) == (Decimal("10.000"), 7, pat)
    assert AuditRecord.objects.filter(action="allowance.policy_set", actor=pat).count() == 1


def test_a_group_allowance_looser_than_the_programme_is_a_form_error_and_stores_nothing(client, pat, heroin, group_a):
    f.AllowancePolicyFactory(substance=heroin, group=None, max_grams=Decimal("14.000"), window_days=7, created_by=pat)
    client.force_login(pat)
    response = client.post(
        reverse(POLICY_ADD), {"substance": heroin.pk, "group": group_a.pk, "max_grams": "20", "window_days": "7"}
    )
    assert response.status_code == 200
    assert "only be stricter" in errors_of(response)
    assert not AllowancePolicy.objects.filter(group=group_a).exists()
    assert not AuditRecord.objects.filter(action="allowance.policy_set").exists()
    # No success message on a refusal.
    assert not list(response.context["messages"])


def test_changing_a_policy_changes_its_figures_but_never_its_substance_or_group(client, pat, heroin, group_a):
    policy = f.AllowancePolicyFactory(substance=heroin, group=None, created_by=pat)
    other = f.SubstanceFactory(name="cocaine")
    client.force_login(pat)
    url = reverse("admin:distributions_allowancepolicy_change", args=[policy.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"substance": other.pk, "group": group_a.pk, "max_grams": "12.5", "window_days": "10"})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.substance, policy.group, policy.max_grams, policy.window_days) == (
        heroin, None, Decimal("12.500"), 10
    )
    record = AuditRecord.objects.get(action="allowance.policy_set")
    assert record.old == {"max_grams": "14.000", "window_days": 7}


def test_a_window_out_of_range_is_a_form_error(client, pat, heroin):
    client.force_login(pat)
    response = client.post(reverse(POLICY_ADD), {"substance": heroin.pk, "group": "", "max_grams": "10", "window_days": "0"})
    assert response.status_code == 200
    assert not AllowancePolicy.objects.exists()


def test_a_coordinator_may_read_a_policy_but_not_change_it(client, alice, heroin, pat):
    policy = f.AllowancePolicyFactory(substance=heroin, group=None, created_by=pat)
    client.force_login(alice)
    url = reverse("admin:distributions_allowancepolicy_change", args=[policy.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"substance": heroin.pk, "max_grams": "99", "window_days": "1"}).status_code == 403
    assert client.get(reverse(POLICY_ADD)).status_code == 403
    policy.refresh_from_db()
    assert policy.max_grams == Decimal("14.000")


# --- overrides --------------------------------------------------------------------------------


def override_data(member, substance, approver, **changes) -> dict:
    today = timezone.localdate()
    data = {
        "member_code": member.display_code, "substance": substance.pk, "max_grams": "21",
        "starts_on": today.isoformat(), "ends_on": (today + dt.timedelta(days=6)).isoformat(),
        "reason": "travel", "approver": approver.pk, "approver_password": PASSWORD, "approver_code": "",
    }
    data.update(changes)
    return data


def test_a_coordinator_grants_an_override_approved_by_a_second_coordinator_with_their_password(
    client, alice, carol, member, heroin
):
    client.force_login(alice)
    page = client.get(reverse(OVERRIDE_ADD))
    assert page.status_code == 200
    assert list(page.context["form"].fields["approver"].queryset) == [carol]
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol))
    assert response.status_code == 302
    override = AllowanceOverride.objects.get()
    assert (override.member, override.requested_by, override.approved_by, override.max_grams) == (
        member, alice, carol, Decimal("21.000")
    )
    zone = timezone.get_current_timezone()
    assert override.valid_from == dt.datetime.combine(timezone.localdate(), dt.time.min, tzinfo=zone)
    assert override.valid_until - override.valid_from == dt.timedelta(days=7)
    record = AuditRecord.objects.get(action="allowance.override_granted")
    assert record.actor == alice and record.new["approved_by"] == "carol"


def test_a_wrong_approver_password_stores_nothing(client, alice, carol, member, heroin):
    client.force_login(alice)
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol, approver_password="guess"))
    assert response.status_code == 200
    assert "password was not accepted" in errors_of(response)
    assert not AllowanceOverride.objects.exists()
    assert "guess" not in response.content.decode()


def test_the_requester_cannot_approve_their_own_override(client, alice, carol, member, heroin):
    client.force_login(alice)
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, alice))
    assert response.status_code == 200
    assert "approver" in response.context["form"].errors
    assert not AllowanceOverride.objects.exists()


def test_a_coordinator_of_another_group_is_not_offered_and_cannot_approve(client, alice, carol, bob, member, heroin):
    client.force_login(alice)
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, bob))
    assert response.status_code == 200
    assert "approver" in response.context["form"].errors
    assert not AllowanceOverride.objects.exists()


def test_a_member_of_another_group_is_not_found(client, bob, member, heroin, group_b):
    second = f.UserFactory(username="bob2")
    group_b.coordinators.add(second)
    client.force_login(bob)
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, second))
    assert response.status_code == 200
    assert "No member with that code in your groups" in errors_of(response)
    assert member.code not in response.content.decode()
    assert not AllowanceOverride.objects.exists()


def test_an_override_longer_than_the_service_allows_is_a_form_error(client, alice, carol, member, heroin):
    client.force_login(alice)
    too_long = (timezone.localdate() + dt.timedelta(days=40)).isoformat()
    response = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol, ends_on=too_long))
    assert response.status_code == 200
    assert "at most 30 days" in errors_of(response)
    assert not AllowanceOverride.objects.exists()
    assert not list(response.context["messages"])


def test_an_approver_with_two_factor_must_also_give_their_current_code(client, alice, carol, member, heroin):
    device = TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    client.force_login(alice)
    refused = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol))
    assert "two-factor code did not work" in errors_of(refused)
    assert not AllowanceOverride.objects.exists()
    assert AuditRecord.objects.filter(action="allowance.override_approval_failed", actor=alice).exists()

    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    accepted = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol, approver_code=code))
    assert accepted.status_code == 302
    assert AllowanceOverride.objects.get().approved_by == carol


def test_where_two_factor_is_required_an_approver_without_it_cannot_approve(settings, alice, carol, member, heroin):
    settings.REQUIRE_2FA = True
    request = RequestFactory().post("/admin/")
    request.user = alice
    now = timezone.now()
    with pytest.raises(ServiceError) as refused:
        allowance_override_grant(
            member=member, substance=heroin, max_grams="21", valid_from=now, valid_until=now + dt.timedelta(days=7),
            reason=AllowanceOverride.Reason.TRAVEL, by=alice, approved_by=carol, approver_password=PASSWORD,
            request=request,
        )
    assert refused.value.code == "approver_without_two_factor"
    assert not AllowanceOverride.objects.exists()


def test_a_user_who_coordinates_no_group_gets_a_notice_not_a_form(client, root):
    client.force_login(root)
    response = client.get(reverse(OVERRIDE_ADD))
    assert response.status_code == 200
    assert "form" not in response.context or response.context.get("form") is None
    assert "Only a coordinator" in response.content.decode()


def test_overrides_are_never_changed_or_deleted_in_the_admin(client, alice, carol, member, heroin):
    override = f.AllowanceOverrideFactory(
        member=member, substance=heroin, requested_by=alice, approved_by=carol, max_grams=Decimal("20"),
        valid_from=timezone.now(), valid_until=timezone.now() + dt.timedelta(days=3),
    )
    client.force_login(alice)
    change = reverse("admin:distributions_allowanceoverride_change", args=[override.pk])
    assert client.get(change).status_code == 200  # the read-only view
    assert client.post(change, {"max_grams": "99"}).status_code == 403
    assert client.get(reverse("admin:distributions_allowanceoverride_delete", args=[override.pk])).status_code == 403
    override.refresh_from_db()
    assert override.max_grams == Decimal("20.000")


def test_a_coordinator_alone_in_their_group_is_told_an_override_needs_a_second_one(client, bob):
    client.force_login(bob)
    response = client.get(reverse(OVERRIDE_ADD))
    assert response.status_code == 200
    assert "your groups have no other coordinator" in response.content.decode()


def test_wrong_approver_passwords_count_towards_the_approvers_sign_in_lockout(client, alice, carol, member, heroin, settings):
    client.force_login(alice)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol, approver_password="guess"))
    # Locked out: now even the right password approves nothing, and the requester stays signed in.
    locked = client.post(reverse(OVERRIDE_ADD), override_data(member, heroin, carol))
    assert locked.status_code == 429
    assert not AllowanceOverride.objects.exists()
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_coordinator_sees_the_programme_and_their_own_groups_policies_only(client, alice, pat, heroin, group_a, group_b):
    programme = AllowancePolicy.objects.create(substance=heroin, max_grams=Decimal("14.000"), window_days=7, created_by=pat)
    own = AllowancePolicy.objects.create(substance=heroin, group=group_a, max_grams=Decimal("10.000"), window_days=7, created_by=pat)
    other = AllowancePolicy.objects.create(substance=heroin, group=group_b, max_grams=Decimal("7.000"), window_days=7, created_by=pat)
    client.force_login(alice)
    changelist = client.get(reverse("admin:distributions_allowancepolicy_changelist"))
    assert set(changelist.context["cl"].result_list) == {programme, own}
    # The group filter offers their own group only, not every group's name.
    html = changelist.content.decode()
    assert group_a.short_name in html and group_b.short_name not in html
    # By typed URL: another group's policy is not there.
    assert client.get(reverse("admin:distributions_allowancepolicy_change", args=[other.pk])).status_code == 302
    assert client.get(reverse("admin:distributions_allowancepolicy_history", args=[other.pk])).status_code == 302
    assert client.get(reverse("admin:distributions_allowancepolicy_change", args=[own.pk])).status_code == 200
    assert client.get(reverse("admin:distributions_allowancepolicy_changelist"), {"group__id__exact": other.group_id}
                      ).context["cl"].result_list.count() == 0
