"""Allowance policies and two-coordinator overrides, through the services, as eligibility sees them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.eligibility import check_eligibility
from distributions.models import AllowanceOverride, AllowancePolicy
from distributions.services import allowance_override_grant, allowance_policy_set
from tests.builders import Stock

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory


def test_a_programme_admin_sets_the_default_and_a_group_tightens_it(heroin, group_a, pat, alice, member):
    allowance_policy_set(substance=heroin, max_grams="10", window_days=7, by=pat)
    allowance_policy_set(substance=heroin, group=group_a, max_grams=Decimal("5.5"), window_days=7, by=alice)
    allowance = check_eligibility(member).allowances[heroin.pk]
    assert (allowance.limit_grams, allowance.source) == (Decimal("5.500"), "group")
    assert AuditRecord.objects.filter(action="allowance.policy_set").count() == 2


def test_changing_a_policy_updates_it_and_logs_old_and_new(heroin, pat):
    allowance_policy_set(substance=heroin, max_grams="14", window_days=7, by=pat)
    allowance_policy_set(substance=heroin, max_grams="12", window_days=7, by=pat)
    assert AllowancePolicy.objects.get(substance=heroin, group=None).max_grams == Decimal("12.000")
    last = AuditRecord.objects.filter(action="allowance.policy_set").order_by("-seq").first()
    assert last.old["max_grams"] == "14.000" and last.new["max_grams"] == "12.000"


@pytest.mark.parametrize(("grams", "days"), [("15", 7), ("14", 6), ("20", 14)])
def test_a_group_policy_looser_than_the_programme_is_refused(heroin, group_a, alice, grams, days):
    with pytest.raises(ServiceError) as exc:
        allowance_policy_set(substance=heroin, group=group_a, max_grams=grams, window_days=days, by=alice)
    assert exc.value.code == "policy_not_stricter"
    assert not AllowancePolicy.objects.exists()


def test_policy_input_and_permissions_are_checked(heroin, group_a, alice, bob):
    cases = [
        ({"max_grams": "0", "window_days": 7, "by": alice, "group": group_a}, "grams_not_positive"),
        ({"max_grams": "lots", "window_days": 7, "by": alice, "group": group_a}, "grams_invalid"),
        ({"max_grams": "NaN", "window_days": 7, "by": alice, "group": group_a}, "grams_invalid"),
        ({"max_grams": "5", "window_days": 0, "by": alice, "group": group_a}, "window_invalid"),
        ({"max_grams": "5", "window_days": 7, "by": bob, "group": group_a}, "not_coordinator"),
        ({"max_grams": "5.0005", "window_days": 7, "by": alice, "group": group_a}, "grams_invalid"),
        ({"max_grams": "5", "window_days": 7, "by": alice}, "not_permitted"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as exc:
            allowance_policy_set(substance=heroin, **kwargs)
        assert exc.value.code == code, kwargs


def grant(member, substance, by, approved_by, **kwargs):
    now = timezone.now()
    request = RequestFactory().post("/admin/")
    request.user = by
    values = {
        "member": member, "substance": substance, "max_grams": "21", "valid_from": now,
        "valid_until": now + dt.timedelta(days=7), "reason": AllowanceOverride.Reason.TRAVEL,
        "by": by, "approved_by": approved_by, "approver_password": PASSWORD, "request": request,
    }
    values.update(kwargs)
    return allowance_override_grant(**values)


def test_an_override_by_a_second_coordinator_lifts_the_limit_and_is_logged(member, heroin, alice, carol):
    override = grant(member, heroin, alice, carol)
    assert (override.requested_by, override.approved_by) == (alice, carol)
    allowance = check_eligibility(member).allowances[heroin.pk]
    assert (allowance.limit_grams, allowance.source) == (Decimal("21.000"), "override")
    record = AuditRecord.objects.get(action="allowance.override_granted")
    assert record.actor == alice and record.new["approved_by"] == "carol"


def test_an_override_needs_a_second_coordinator_of_the_same_group(member, heroin, alice, bob, carol):
    for by, approver in [(alice, alice), (alice, bob), (alice, None), (bob, alice)]:
        with pytest.raises(ServiceError) as exc:
            grant(member, heroin, by, approver)
        assert exc.value.code in {"second_coordinator_required", "not_coordinator"}
    assert not AllowanceOverride.objects.exists()
    assert check_eligibility(member).allowances[heroin.pk].source == "programme"


def test_no_caller_grants_an_override_without_the_approvers_own_password(member, heroin, alice, carol):
    for password in ("", "guess"):
        with pytest.raises(ServiceError) as exc:
            grant(member, heroin, alice, carol, approver_password=password)
        assert exc.value.code == "approver_not_confirmed"
    assert not AllowanceOverride.objects.exists()


def test_an_override_needs_a_reason_and_a_short_period(member, heroin, alice, carol):
    now = timezone.now()
    cases = [
        ({"reason": "because"}, "reason_invalid"),
        ({"valid_until": now - dt.timedelta(seconds=1)}, "period_invalid"),
        ({"valid_until": now + dt.timedelta(days=31)}, "period_too_long"),
        ({"valid_from": now - dt.timedelta(days=3), "valid_until": now - dt.timedelta(days=1)}, "period_in_past"),
        ({"max_grams": "-1"}, "grams_not_positive"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as exc:
            grant(member, heroin, alice, carol, **kwargs)
        assert exc.value.code == code, kwargs
    assert not AllowanceOverride.objects.exists()


def test_distribution_record_refuses_over_the_allowance_until_an_override_lifts_it(member, heroin, alice, carol, erin, dana, pat):
    stock = Stock(checker=erin, officer=dana, admin=pat)
    allowance_policy_set(substance=heroin, group=member.group, max_grams="10", window_days=7, by=alice)
    stock.hand_out(member, heroin, "8")
    with pytest.raises(ServiceError) as refused:
        stock.hand_out(member, heroin, "3")
    assert refused.value.code == "over_allowance" and "2.000 g" in refused.value.message_text

    # An override replaces the member's limit (here above the group's stricter one) while it lasts.
    grant(member, heroin, alice, carol, max_grams="12")
    stock.hand_out(member, heroin, "3")
    allowance = check_eligibility(member).allowances[heroin.pk]
    assert (allowance.used_grams, allowance.remaining_grams, allowance.source) == (
        Decimal("11.000"), Decimal("1.000"), "override"
    )
