"""check_eligibility: membership reasons, rolling windows to the second, renewal day, time zone,
several substances, group and override policies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distributions.eligibility import check_eligibility
from distributions.models import LedgerEntry
from distributions.services import entry_reverse
from members.models import Member
from tests import factories as f
from tests.builders import Stock

VANCOUVER = ZoneInfo("America/Vancouver")
T0 = dt.datetime(2025, 3, 12, 15, 30, 0, tzinfo=VANCOUVER)


@pytest.fixture
def member(group_a, alice):
    return f.MemberFactory(
        group=group_a,
        enrolled_on=dt.date(2025, 1, 1),
        renewal_due=dt.date(2025, 12, 31),
        consent_given_at=dt.datetime(2025, 1, 1, 10, tzinfo=VANCOUVER),
        created_by=alice,
    )


@pytest.fixture
def hand_out(db, erin, dana, pat):
    """Distributions recorded through ``distribution_record`` (backdated to ``at``) from stock
    received, checked, released and sent to the group through the services."""
    stock = Stock(checker=erin, officer=dana, admin=pat)

    def _hand_out(member, substance, grams: str, at: dt.datetime) -> LedgerEntry:
        return stock.hand_out(member, substance, grams, at=at)

    return _hand_out


def test_an_active_member_with_nothing_handed_out_has_the_default_allowance(member, heroin, cocaine):
    result = check_eligibility(member, at=T0)
    assert result.eligible is True
    assert result.reasons == []
    assert set(result.allowances) == {heroin.pk, cocaine.pk}
    for allowance in result.allowances.values():
        assert allowance.limit_grams == Decimal("14.000")
        assert allowance.window_days == 7
        assert allowance.source == "programme"
        assert allowance.remaining_grams == Decimal("14.000")
        assert allowance.next_frees_at is None
    assert result.renewal_due == dt.date(2025, 12, 31)
    assert result.checked_at == T0


def test_grams_count_until_the_window_ends_to_the_second(hand_out, member, heroin):
    hand_out(member, heroin, "5.000", T0)
    window_end = T0 + dt.timedelta(days=7)

    just_before = check_eligibility(member, at=window_end - dt.timedelta(seconds=1)).allowances[heroin.pk]
    assert just_before.used_grams == Decimal("5.000")
    assert just_before.remaining_grams == Decimal("9.000")
    assert just_before.next_frees_at == window_end
    assert just_before.next_frees_grams == Decimal("5.000")

    at_end = check_eligibility(member, at=window_end).allowances[heroin.pk]
    assert at_end.used_grams == Decimal("0.000")
    assert at_end.remaining_grams == Decimal("14.000")
    assert at_end.next_frees_at is None


def test_a_distribution_recorded_after_the_moment_asked_does_not_count(hand_out, member, heroin):
    hand_out(member, heroin, "5.000", T0)
    assert check_eligibility(member, at=T0 - dt.timedelta(seconds=1)).allowances[heroin.pk].used_grams == 0
    assert check_eligibility(member, at=T0).allowances[heroin.pk].used_grams == Decimal("5.000")


def test_the_oldest_grams_free_up_first(hand_out, member, heroin):
    hand_out(member, heroin, "4.000", T0)
    hand_out(member, heroin, "6.000", T0 + dt.timedelta(days=2))
    allowance = check_eligibility(member, at=T0 + dt.timedelta(days=3)).allowances[heroin.pk]
    assert allowance.used_grams == Decimal("10.000")
    assert allowance.remaining_grams == Decimal("4.000")
    assert allowance.next_frees_at == T0 + dt.timedelta(days=7)
    assert allowance.next_frees_grams == Decimal("4.000")

    later = check_eligibility(member, at=T0 + dt.timedelta(days=7, seconds=1)).allowances[heroin.pk]
    assert later.used_grams == Decimal("6.000")
    assert later.next_frees_at == T0 + dt.timedelta(days=9)


def test_several_substances_are_counted_separately(hand_out, member, heroin, cocaine):
    hand_out(member, heroin, "14.000", T0)
    hand_out(member, cocaine, "3.500", T0)
    result = check_eligibility(member, at=T0 + dt.timedelta(hours=1))
    assert result.allowances[heroin.pk].remaining_grams == Decimal("0.000")
    assert result.allowances[cocaine.pk].remaining_grams == Decimal("10.500")
    # Using up one substance does not make the member ineligible for the other.
    assert result.eligible is True


def test_a_reversed_distribution_does_not_count(hand_out, member, heroin, alice):
    entry = hand_out(member, heroin, "5.000", T0)
    entry_reverse(entry=entry, reason="wrong_member", by=alice)
    assert check_eligibility(member, at=T0 + dt.timedelta(hours=1)).allowances[heroin.pk].used_grams == 0


def test_a_member_may_pick_up_on_the_day_renewal_falls_due_but_not_the_next(member):
    member.renewal_due = dt.date(2025, 6, 30)
    last_second = dt.datetime(2025, 6, 30, 23, 59, 59, tzinfo=VANCOUVER)
    assert check_eligibility(member, at=last_second).eligible is True

    next_day = dt.datetime(2025, 7, 1, 0, 0, 0, tzinfo=VANCOUVER)
    result = check_eligibility(member, at=next_day)
    assert result.eligible is False
    assert [r.code for r in result.reasons] == ["renewal_overdue"]
    assert "2025-06-30" in result.reasons[0].message


def test_renewal_is_judged_on_the_vancouver_date_not_utc(member):
    member.renewal_due = dt.date(2025, 6, 30)
    # 2025-07-01 02:00 UTC is still 2025-06-30 19:00 in Vancouver.
    utc_next_day = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)
    assert check_eligibility(member, at=utc_next_day).eligible is True
    # 07:00 UTC is midnight in Vancouver (PDT, UTC-7).
    assert check_eligibility(member, at=dt.datetime(2025, 7, 1, 7, 0, tzinfo=dt.UTC)).eligible is False


@pytest.mark.parametrize(
    "zone, local, overdue",
    [
        ("Pacific/Kiritimati", dt.datetime(2025, 6, 30, 13, 59), False),  # UTC 2025-06-29 23:59
        ("Pacific/Kiritimati", dt.datetime(2025, 7, 1, 0, 30), True),  # UTC 2025-06-30 10:30
        ("Pacific/Pago_Pago", dt.datetime(2025, 6, 30, 23, 30), False),  # UTC 2025-07-01 10:30
        ("Pacific/Pago_Pago", dt.datetime(2025, 7, 1, 0, 30), True),  # UTC 2025-07-01 11:30
    ],
)
def test_renewal_is_judged_on_the_local_date_fourteen_hours_either_side_of_utc(member, zone, local, overdue):
    from django.utils import timezone

    member.renewal_due = dt.date(2025, 6, 30)
    with timezone.override(ZoneInfo(zone)):
        result = check_eligibility(member, at=local.replace(tzinfo=ZoneInfo(zone)))
    assert ("renewal_overdue" in [r.code for r in result.reasons]) is overdue


def test_the_window_spans_a_daylight_saving_change_in_real_seconds(hand_out, member, heroin):
    # Clocks went forward in Vancouver on 2025-03-09; the window is 7 x 24 hours regardless.
    before_change = dt.datetime(2025, 3, 8, 12, 0, tzinfo=VANCOUVER)
    hand_out(member, heroin, "2.000", before_change)
    allowance = check_eligibility(member, at=before_change + dt.timedelta(days=1)).allowances[heroin.pk]
    # 12:00 PST is 20:00 UTC; seven real days later it is 13:00 PDT, still 20:00 UTC.
    assert allowance.next_frees_at.astimezone(VANCOUVER).hour == 13
    # Seven days of wall clock (12:00 PDT) is an hour short of seven real days: still counted.
    wall_clock_week = before_change + dt.timedelta(days=7)
    assert check_eligibility(member, at=wall_clock_week).allowances[heroin.pk].used_grams == Decimal("2.000")
    assert allowance.next_frees_at.astimezone(dt.UTC) == dt.datetime(2025, 3, 15, 20, 0, tzinfo=dt.UTC)


def test_every_reason_is_listed_not_just_the_first(member, group_a):
    member.status = Member.Status.SUSPENDED
    member.renewal_due = dt.date(2025, 1, 31)
    group_a.is_active = False
    group_a.save()
    member.group = group_a
    result = check_eligibility(member, at=T0)
    assert result.eligible is False
    assert [r.code for r in result.reasons] == ["member_not_active", "renewal_overdue", "group_inactive"]
    assert all(r.message for r in result.reasons)


def test_a_withdrawn_member_is_not_eligible(member):
    member.status = Member.Status.WITHDRAWN
    assert [r.code for r in check_eligibility(member, at=T0).reasons] == ["member_not_active"]


def test_consent_given_after_the_moment_asked_does_not_count(member):
    member.consent_given_at = T0 + dt.timedelta(minutes=1)
    assert [r.code for r in check_eligibility(member, at=T0).reasons] == ["no_consent"]


def test_a_stricter_group_policy_applies_to_its_members_only(hand_out, member, heroin, group_b, bob):
    f.AllowancePolicyFactory(substance=heroin, group=None, max_grams=Decimal("14.000"), window_days=7)
    f.AllowancePolicyFactory(substance=heroin, group=member.group, max_grams=Decimal("7.000"), window_days=7)
    hand_out(member, heroin, "5.000", T0)
    allowance = check_eligibility(member, at=T0 + dt.timedelta(hours=1)).allowances[heroin.pk]
    assert (allowance.limit_grams, allowance.source, allowance.remaining_grams) == (
        Decimal("7.000"), "group", Decimal("2.000")
    )
    other = f.MemberFactory(group=group_b, created_by=bob)
    assert check_eligibility(other, at=T0).allowances[heroin.pk].limit_grams == Decimal("14.000")


def test_a_longer_group_window_keeps_grams_counted_longer(hand_out, member, heroin):
    f.AllowancePolicyFactory(substance=heroin, group=member.group, max_grams=Decimal("14.000"), window_days=14)
    hand_out(member, heroin, "5.000", T0)
    allowance = check_eligibility(member, at=T0 + dt.timedelta(days=10)).allowances[heroin.pk]
    assert allowance.used_grams == Decimal("5.000")
    assert allowance.next_frees_at == T0 + dt.timedelta(days=14)


def test_a_group_policy_looser_than_the_programme_is_ignored(member, heroin):
    f.AllowancePolicyFactory(substance=heroin, group=None, max_grams=Decimal("10.000"), window_days=7)
    f.AllowancePolicyFactory(substance=heroin, group=member.group, max_grams=Decimal("12.000"), window_days=7)
    allowance = check_eligibility(member, at=T0).allowances[heroin.pk]
    assert (allowance.limit_grams, allowance.source) == (Decimal("10.000"), "programme")


def test_an_override_approved_by_a_second_coordinator_raises_the_limit_while_valid(hand_out, member, heroin, alice, carol):
    f.AllowanceOverrideFactory(
        member=member,
        substance=heroin,
        max_grams=Decimal("21.000"),
        valid_from=T0,
        valid_until=T0 + dt.timedelta(days=7),
        requested_by=alice,
        approved_by=carol,
    )
    hand_out(member, heroin, "14.000", T0 + dt.timedelta(minutes=1))
    during = check_eligibility(member, at=T0 + dt.timedelta(hours=1)).allowances[heroin.pk]
    assert (during.limit_grams, during.source, during.remaining_grams) == (
        Decimal("21.000"), "override", Decimal("7.000")
    )
    after = check_eligibility(member, at=T0 + dt.timedelta(days=7)).allowances[heroin.pk]
    assert (after.limit_grams, after.source, after.remaining_grams) == (Decimal("14.000"), "programme", Decimal("0.000"))


def test_it_runs_a_constant_number_of_queries(hand_out, member, heroin, cocaine):
    member = Member.objects.select_related("group").get(pk=member.pk)
    hand_out(member, heroin, "1.000", T0)
    with CaptureQueriesContext(connection) as few:
        check_eligibility(member, at=T0 + dt.timedelta(hours=1))
    for i in range(5):
        hand_out(member, cocaine, "1.000", T0 + dt.timedelta(minutes=i))
    f.SubstanceFactory(name="methamphetamine")
    with CaptureQueriesContext(connection) as many:
        check_eligibility(member, at=T0 + dt.timedelta(hours=1))
    # substances, policies, overrides, the window sums per substance: one statement
    assert len(few) == len(many) == 1


def test_the_window_is_exact_to_the_microsecond(hand_out, member, heroin):
    # The window is summed in SQL; on SQLite it compares text, so the fraction of a second counts.
    handed = T0 + dt.timedelta(microseconds=250_000)
    hand_out(member, heroin, "2.000", handed)
    window_end = handed + dt.timedelta(days=7)
    assert check_eligibility(member, at=window_end - dt.timedelta(microseconds=1)).allowances[heroin.pk].used_grams == Decimal("2.000")
    assert check_eligibility(member, at=window_end).allowances[heroin.pk].used_grams == 0


def test_grams_handed_out_at_the_same_moment_free_up_together(hand_out, member, heroin):
    hand_out(member, heroin, "1.500", T0)
    hand_out(member, heroin, "2.000", T0)
    hand_out(member, heroin, "3.000", T0 + dt.timedelta(days=1))
    allowance = check_eligibility(member, at=T0 + dt.timedelta(days=2)).allowances[heroin.pk]
    assert allowance.used_grams == Decimal("6.500")
    assert (allowance.next_frees_at, allowance.next_frees_grams) == (T0 + dt.timedelta(days=7), Decimal("3.500"))


def test_each_substance_is_counted_over_its_own_window(hand_out, member, heroin, cocaine):
    f.AllowancePolicyFactory(substance=cocaine, group=None, max_grams=Decimal("14.000"), window_days=30)
    hand_out(member, heroin, "1.000", T0)
    hand_out(member, cocaine, "1.000", T0)
    result = check_eligibility(member, at=T0 + dt.timedelta(days=10))
    assert result.allowances[heroin.pk].used_grams == 0
    assert result.allowances[cocaine.pk].used_grams == Decimal("1.000")
    assert result.allowances[cocaine.pk].next_frees_at == T0 + dt.timedelta(days=30)
