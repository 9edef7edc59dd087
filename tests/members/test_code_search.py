"""Every admin search that takes a member code takes it as printed on the card: dashed, lower
case, with O/0 and I/1/L look-alikes, and finds nothing for another group's member."""

from __future__ import annotations

import pytest
from django.urls import reverse

from distributions.models import LedgerEntry
from members.codes import format_code
from members.models import Member, StatusReason
from members.services import member_enrol, member_set_status
from tests import factories as f


def as_typed(code: str) -> str:
    """The code as someone copies it from a card: dashed, lower case, 0 read as O, 1 as l."""
    return format_code(code).lower().replace("0", "o").replace("1", "l")


@pytest.fixture
def member(group_a, alice):
    return member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice)


def _found(client, url_name, term):
    response = client.get(reverse(url_name), {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.django_db
def test_the_member_list_finds_a_code_as_printed(client, alice, member, group_a):
    other = member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice)
    client.force_login(alice)
    for term in (format_code(member.code), as_typed(member.code), member.code.lower()):
        assert _found(client, "admin:members_member_changelist", term) == [member], term
    # Part of a code, dashed as printed, still narrows the list.
    assert member in _found(client, "admin:members_member_changelist", format_code(member.code)[:9])
    assert other not in _found(client, "admin:members_member_changelist", format_code(member.code))


@pytest.mark.django_db
def test_the_code_search_stays_within_the_coordinators_groups(client, bob, member):
    client.force_login(bob)
    assert _found(client, "admin:members_member_changelist", format_code(member.code)) == []
    assert _found(client, "admin:members_memberstatuschange_changelist", format_code(member.code)) == []


@pytest.mark.django_db
def test_the_status_change_list_finds_a_code_as_printed(client, alice, member):
    member_set_status(member=member, status=Member.Status.SUSPENDED, reason=StatusReason.SAFETY, by=alice)
    client.force_login(alice)
    rows = _found(client, "admin:members_memberstatuschange_changelist", as_typed(member.code))
    assert rows and {r.member_id for r in rows} == {member.pk}


@pytest.mark.django_db
def test_the_ledger_list_finds_a_code_as_printed(client, root):
    member = f.MemberFactory()
    entry = f.LedgerEntryFactory(member=member, kind=LedgerEntry.Kind.DISTRIBUTION)
    f.LedgerEntryFactory(member=f.MemberFactory(), kind=LedgerEntry.Kind.DISTRIBUTION)
    client.force_login(root)
    assert _found(client, "admin:distributions_ledgerentry_changelist", as_typed(member.code)) == [entry]
    # Batch codes and idempotency keys are still searched as they are.
    assert _found(client, "admin:distributions_ledgerentry_changelist", entry.idempotency_key) == [entry]
