"""A desk visit: several distributions to one member, recorded together or not at all."""

from __future__ import annotations

import uuid

import pytest

from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import LedgerEntry
from distributions.services import VisitLine
from tests import factories as f
from tests.distributions.ledger_helpers import D, batch_at_group, member_in, store_grams

pytestmark = pytest.mark.django_db


@pytest.fixture
def substances(db):
    return [f.SubstanceFactory(name=name) for name in ("Heroin", "Cocaine", "Methamphetamine")]


@pytest.fixture
def member(group_a, alice):
    return member_in(group_a, created_by=alice)


@pytest.fixture
def batches(group_a, pat, substances):
    return [batch_at_group(group_a, pat, grams="20.000", substance=s) for s in substances]


def visit_key() -> str:
    return uuid.uuid4().hex


def distributions_of(member) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).order_by("pk"))


def test_a_visit_records_every_line_and_returns_them_in_order(member, alice, batches):
    lines = [VisitLine(batches[2], "1.5"), VisitLine(batches[0], D("3.5")), VisitLine(batches[1], "2")]
    entries = services.visit_record(member=member, lines=lines, by=alice, idempotency_key=visit_key())
    assert [(e.batch_id, e.grams) for e in entries] == [(batches[2].pk, D("1.5")), (batches[0].pk, D("3.5")), (batches[1].pk, D("2"))]
    assert len(distributions_of(member)) == 3
    assert store_grams(batches[0], member.group) == D("16.5")


def test_one_refused_line_stores_no_line_and_names_the_batch(member, alice, batches):
    lines = [VisitLine(batches[0], "3.5"), VisitLine(batches[1], "2"), VisitLine(batches[2], "21")]
    with pytest.raises(ServiceError) as refused:
        services.visit_record(member=member, lines=lines, by=alice, idempotency_key=visit_key())
    assert refused.value.code == "over_allowance"
    assert refused.value.details["batch_id"] == batches[2].pk
    assert distributions_of(member) == []
    assert store_grams(batches[0], member.group) == D("20")


def test_two_lines_of_one_substance_count_together_against_the_allowance(member, alice, group_a, pat, batches):
    second_heroin = batch_at_group(group_a, pat, grams="20.000", substance=batches[0].substance)
    lines = [VisitLine(batches[0], "10"), VisitLine(second_heroin, "5")]
    with pytest.raises(ServiceError) as refused:
        services.visit_record(member=member, lines=lines, by=alice, idempotency_key=visit_key())
    assert refused.value.code == "over_allowance"
    assert distributions_of(member) == []
    lines = [VisitLine(batches[0], "10"), VisitLine(second_heroin, "4")]
    assert len(services.visit_record(member=member, lines=lines, by=alice, idempotency_key=visit_key())) == 2


def test_a_resubmitted_visit_returns_the_first_entries_and_writes_nothing(member, alice, batches):
    key = visit_key()
    lines = [VisitLine(batches[0], "1"), VisitLine(batches[1], "2")]
    first = services.visit_record(member=member, lines=lines, by=alice, idempotency_key=key)
    again = services.visit_record(member=member, lines=list(reversed(lines)), by=alice, idempotency_key=key)
    assert sorted(e.pk for e in again) == sorted(e.pk for e in first)
    assert len(distributions_of(member)) == 2


def test_a_visit_key_reused_for_other_grams_is_refused(member, alice, batches):
    key = visit_key()
    services.visit_record(member=member, lines=[VisitLine(batches[0], "1")], by=alice, idempotency_key=key)
    with pytest.raises(ServiceError) as refused:
        services.visit_record(member=member, lines=[VisitLine(batches[0], "2")], by=alice, idempotency_key=key)
    assert refused.value.code == "idempotency_key_reused"


@pytest.mark.parametrize("lines, code", [
    (lambda b: [], "visit_empty"),
    (lambda b: [VisitLine(b[0], "1"), VisitLine(b[0], "2")], "visit_batch_twice"),
    (lambda b: [VisitLine(b[0], "1"), VisitLine(b[1], "0")], "grams_not_positive"),
])
def test_bad_visits_are_refused_and_store_nothing(member, alice, batches, lines, code):
    with pytest.raises(ServiceError) as refused:
        services.visit_record(member=member, lines=lines(batches), by=alice, idempotency_key=visit_key())
    assert refused.value.code == code
    assert distributions_of(member) == []


def test_only_the_members_coordinator_records_a_visit(member, bob, batches):
    with pytest.raises(ServiceError) as refused:
        services.visit_record(member=member, lines=[VisitLine(batches[0], "1")], by=bob, idempotency_key=visit_key())
    assert refused.value.code == "not_coordinator"


@pytest.mark.django_db(transaction=True)
def test_distribution_write_needs_the_callers_transaction(member, alice, batches):
    with pytest.raises(RuntimeError):
        services.distribution_write(member=member, batch=batches[0], grams="1", by=alice, idempotency_key=visit_key())
