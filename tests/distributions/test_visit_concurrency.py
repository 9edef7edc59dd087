"""Desk visits racing on PostgreSQL, with real threads: a visit resubmitted at once from many
tabs writes one set of entries, and visits taking the same two batches in opposite orders
neither deadlock nor overdraw a store."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from tests.builders import transfer
from tests.distributions import race

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


def _second_batch(group, admin):
    from tests.distributions.ledger_helpers import D, batch_in_central

    batch = batch_in_central(grams="1000", by=admin, created_by=admin)
    transfer(batch=batch, to_group=group, grams=D("10.000"), by=admin)
    return batch


def test_postgres_one_visit_resubmitted_at_once_writes_one_set_of_entries():
    from distributions import services
    from distributions.models import LedgerEntry
    from distributions.services import VisitLine
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import member_in

    group, coordinator, first = race._setup("100.000")
    second = _second_batch(group, first.created_by)
    member = member_in(group, created_by=coordinator)
    key = uuid.uuid4().hex
    lines = [VisitLine(first, Decimal("2.000")), VisitLine(second, Decimal("1.000"))]
    results = race.race(
        8, lambda i: services.visit_record(member=member, lines=lines, by=coordinator, idempotency_key=key)[0]
    )
    assert Counter(kind for kind, _ in results) == {"ok": 8}, results
    assert len({detail for _, detail in results}) == 1
    assert LedgerEntry.objects.filter(member=member, kind=LedgerEntry.Kind.DISTRIBUTION).count() == 2
    assert verify_ledger().ok


def test_postgres_visits_taking_two_batches_in_opposite_orders_never_deadlock_or_overdraw():
    from distributions import services
    from distributions.models import LedgerEntry
    from distributions.services import VisitLine
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import member_in, store_grams

    group, coordinator, first = race._setup("10.000")
    second = _second_batch(group, first.created_by)
    n = race.THREADS
    members = [member_in(group, created_by=coordinator) for _ in range(n)]

    def visit(i: int):
        pair = [VisitLine(first, Decimal("1.000")), VisitLine(second, Decimal("1.000"))]
        return services.visit_record(
            member=members[i], lines=pair if i % 2 else pair[::-1], by=coordinator, idempotency_key=uuid.uuid4().hex
        )[0]

    results = race.race(n, visit)
    outcomes = Counter(kind if kind == "ok" else f"{kind}:{detail}" for kind, detail in results)
    # Each store holds 10 g: ten visits are served in full, the rest refused whole.
    assert outcomes == {"ok": 10, "refused:insufficient_stock": n - 10}, results
    for batch in (first, second):
        assert LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.DISTRIBUTION).count() == 10
        assert store_grams(batch, group) == Decimal("0.000")
    assert verify_ledger().ok
