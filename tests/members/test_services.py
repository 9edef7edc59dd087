"""member_enrol, member_set_status, member_reset_pin, member_renew."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from members.codes import is_valid_code
from members.models import Member, MemberStatusChange, StatusReason
from members.services import member_enrol, member_renew, member_reset_pin, member_set_status


def enrol(group, by, pin="482915"):
    return member_enrol(group=group, pin=pin, consent_version="2022-04", by=by)


def test_a_coordinator_enrols_a_member_with_a_valid_random_code(group_a, alice):
    member = enrol(group_a, alice)
    member.refresh_from_db()
    assert is_valid_code(member.code)
    assert member.status == Member.Status.ACTIVE
    assert member.group == group_a
    assert member.age_attested is True
    assert member.consent_version == "2022-04"
    assert member.renewal_due == timezone.localdate() + dt.timedelta(days=365)
    history = list(member.status_history.all())
    assert [(h.from_status, h.to_status, h.reason) for h in history] == [("", "active", "enrolled")]
    record = AuditRecord.objects.get(action="member.enrolled")
    assert record.actor == alice
    assert "482915" not in str(record.new) and "pin" not in str(record.new).lower()


def test_the_pin_is_stored_only_as_a_password_hash(group_a, alice):
    member = enrol(group_a, alice)
    member.refresh_from_db()
    assert "482915" not in member.pin
    assert check_password("482915", member.pin)
    assert member.check_pin("482915") and not member.check_pin("482916")


def test_two_enrolments_get_different_codes(group_a, alice):
    assert enrol(group_a, alice).code != enrol(group_a, alice).code


def test_it_refuses_a_coordinator_of_another_group_and_stores_nothing(group_a, bob):
    with pytest.raises(ServiceError) as exc:
        enrol(group_a, bob)
    assert exc.value.code == "not_coordinator"
    assert not Member.objects.exists() and not AuditRecord.objects.filter(action="member.enrolled").exists()


def test_it_refuses_a_programme_admin_who_coordinates_no_group(group_a, pat):
    with pytest.raises(ServiceError) as exc:
        enrol(group_a, pat)
    assert exc.value.code == "not_coordinator"


@pytest.mark.parametrize(("pin", "code"), [("12345", "pin_too_short"), ("123456", "pin_too_common"), ("", "pin_missing")])
def test_it_refuses_weak_pins(group_a, alice, pin, code):
    with pytest.raises(ServiceError) as exc:
        enrol(group_a, alice, pin=pin)
    assert exc.value.code == code
    assert not Member.objects.exists()


def test_it_refuses_without_age_attestation_or_consent(group_a, alice):
    with pytest.raises(ServiceError) as exc:
        member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice, age_attested=False)
    assert exc.value.code == "age_not_attested"
    with pytest.raises(ServiceError) as exc:
        member_enrol(group=group_a, pin="482915", consent_version="  ", by=alice)
    assert exc.value.code == "no_consent"
    assert not Member.objects.exists()


def test_it_refuses_an_inactive_group(group_a, alice):
    group_a.is_active = False
    group_a.save()
    with pytest.raises(ServiceError) as exc:
        enrol(group_a, alice)
    assert exc.value.code == "group_inactive"


def test_it_refuses_a_renewal_date_more_than_a_year_away(group_a, alice):
    with pytest.raises(ServiceError) as exc:
        member_enrol(
            group=group_a, pin="482915", consent_version="2022-04", by=alice,
            renewal_due=timezone.localdate() + dt.timedelta(days=400),
        )
    assert exc.value.code == "renewal_date_invalid"


def test_a_coordinator_suspends_and_reinstates_with_reasons_kept(group_a, alice, carol):
    member = enrol(group_a, alice)
    member_set_status(member=member, status=Member.Status.SUSPENDED, reason=StatusReason.SAFETY, by=alice)
    member_set_status(member=member, status=Member.Status.ACTIVE, reason=StatusReason.REINSTATED, by=carol)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    history = list(MemberStatusChange.objects.filter(member=member).order_by("id"))
    assert [(h.from_status, h.to_status, h.reason, h.changed_by.username) for h in history] == [
        ("", "active", "enrolled", "alice"),
        ("active", "suspended", "safety", "alice"),
        ("suspended", "active", "reinstated", "carol"),
    ]
    assert AuditRecord.objects.filter(action="member.status_changed").count() == 2


def test_status_changes_refuse_bad_input(group_a, alice, bob):
    member = enrol(group_a, alice)
    cases = [
        ({"status": "suspended", "reason": "safety", "by": bob}, "not_coordinator"),
        ({"status": "gone", "reason": "safety", "by": alice}, "status_invalid"),
        ({"status": "suspended", "reason": "renewed", "by": alice}, "reason_invalid"),
        ({"status": "suspended", "reason": "because", "by": alice}, "reason_invalid"),
        ({"status": "active", "reason": "reinstated", "by": alice}, "status_unchanged"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as exc:
            member_set_status(member=member, **kwargs)
        assert exc.value.code == code
    assert member.status_history.count() == 1


def test_a_pin_reset_is_logged_without_the_pin(group_a, alice, bob):
    member = enrol(group_a, alice)
    with pytest.raises(ServiceError) as exc:
        member_reset_pin(member=member, pin="730194", by=bob)
    assert exc.value.code == "not_coordinator"
    with pytest.raises(ServiceError) as exc:
        member_reset_pin(member=member, pin="111111", by=alice)
    assert exc.value.code == "pin_too_common"
    member_reset_pin(member=member, pin="730194", by=alice)
    member.refresh_from_db()
    assert member.check_pin("730194") and not member.check_pin("482915")
    record = AuditRecord.objects.get(action="member.pin_reset")
    assert "730194" not in str(record.new) + str(record.old)


def test_renewal_extends_a_year_from_the_due_date_and_records_it(group_a, alice):
    member = enrol(group_a, alice)
    Member.objects.filter(pk=member.pk).update(renewal_due=timezone.localdate() + dt.timedelta(days=10))
    member.refresh_from_db()
    member_renew(member=member, by=alice, consent_version="2025-01")
    member.refresh_from_db()
    assert member.renewal_due == timezone.localdate() + dt.timedelta(days=375)
    assert member.consent_version == "2025-01"
    assert member.status_history.filter(reason=StatusReason.RENEWED).count() == 1
    assert AuditRecord.objects.filter(action="member.renewed").count() == 1


def test_an_overdue_renewal_runs_a_year_from_today(group_a, alice):
    member = enrol(group_a, alice)
    Member.objects.filter(pk=member.pk).update(
        enrolled_on=timezone.localdate() - dt.timedelta(days=400),
        renewal_due=timezone.localdate() - dt.timedelta(days=30),
    )
    member.refresh_from_db()
    member_renew(member=member, by=alice)
    member.refresh_from_db()
    assert member.renewal_due == timezone.localdate() + dt.timedelta(days=365)


def test_renewal_is_refused_when_withdrawn_or_far_too_early(group_a, alice):
    member = enrol(group_a, alice)
    with pytest.raises(ServiceError) as exc:
        member_renew(member=member, by=alice)
    assert exc.value.code == "renewal_too_early"
    member_set_status(member=member, status=Member.Status.WITHDRAWN, reason=StatusReason.MOVED, by=alice)
    with pytest.raises(ServiceError) as exc:
        member_renew(member=member, by=alice)
    assert exc.value.code == "member_withdrawn"
