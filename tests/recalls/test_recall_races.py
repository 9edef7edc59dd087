"""Real threads on PostgreSQL: sixteen replacement attempts for one recalled distribution
store one; the same request retried sixteen times with one key stores one and answers all."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from tests.distributions.race import THREADS, race

pytestmark = pytest.mark.concurrency

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL")


def _recalled_handout():
    from django.contrib.auth import get_user_model

    from distributions import services
    from members.models import MemberGroup
    from testing_results import services as testing
    from tests.distributions.ledger_helpers import D, batch_in_central, member_in

    User = get_user_model()
    suffix = uuid.uuid4().hex[:6]
    admin = User.objects.create(username=f"admin-{suffix}", is_staff=True, is_superuser=True)
    coordinator = User.objects.create(username=f"coord-{suffix}", is_staff=True)
    group = MemberGroup.objects.create(short_name=f"R{suffix}", name=f"Race group {suffix}", region="island")
    group.coordinators.add(coordinator)
    bad = batch_in_central(grams="100", by=admin, created_by=admin)
    services.stock_transfer(batch=bad, to_group=group, grams=D("10"), by=admin)
    member = member_in(group, created_by=coordinator)
    handout = services.distribution_record(
        member=member, batch=bad, grams=Decimal("3.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
    )
    testing.batch_recall(batch=bad, by=admin, reason="Recalled.")
    good = batch_in_central(grams="100", by=admin, created_by=admin, substance=bad.substance)
    services.stock_transfer(batch=good, to_group=group, grams=D("50"), by=admin)
    return handout, good, coordinator, group


def _outcome(results) -> Counter:
    return Counter(kind if kind == "ok" else f"{kind}:{detail}" for kind, detail in results)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sixteen_replacement_attempts_for_one_distribution_store_one():
    from distributions.models import LedgerEntry
    from distributions.recalls.models import Replacement
    from distributions.recalls.replacements import replacement_record
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import store_grams

    handout, good, coordinator, group = _recalled_handout()
    results = race(THREADS, lambda i: replacement_record(
        distribution=handout, batch=good, grams=Decimal("3.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
    ))
    assert _outcome(results) == {"ok": 1, "refused:already_replaced": THREADS - 1}, results
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT).count() == 1
    assert Replacement.objects.filter(replaces=handout).count() == 1
    assert str(store_grams(good, group)) == "47.000"
    assert verify_ledger().ok


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sixteen_retries_of_one_replacement_key_store_one_and_answer_it():
    from distributions.models import LedgerEntry
    from distributions.recalls.replacements import replacement_record

    handout, good, coordinator, _group = _recalled_handout()
    key = uuid.uuid4().hex
    results = race(THREADS, lambda i: replacement_record(
        distribution=handout, batch=good, grams=Decimal("2.000"), by=coordinator, idempotency_key=key
    ))
    assert _outcome(results) == {"ok": THREADS}, results
    assert len({detail for _kind, detail in results}) == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT).count() == 1
