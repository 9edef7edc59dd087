"""Real threads on PostgreSQL: sixteen replacement attempts for one recalled distribution
store one; the same request retried sixteen times with one key stores one and answers all."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from tests.builders import transfer
from tests.distributions.race import THREADS, race, race_people

pytestmark = pytest.mark.concurrency

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL")


def _recalled_handout():
    from distributions import services
    from testing_results import services as testing
    from tests.distributions.ledger_helpers import D, batch_in_central, member_in

    admin, coordinator, group = race_people()
    bad = batch_in_central(grams="100", by=admin, created_by=admin)
    transfer(batch=bad, to_group=group, grams=D("10"), by=admin)
    member = member_in(group, created_by=coordinator)
    handout = services.distribution_record(
        member=member, batch=bad, grams=Decimal("3.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
    )
    testing.batch_recall(batch=bad, by=admin, reason="Recalled.")
    good = batch_in_central(grams="100", by=admin, created_by=admin, substance=bad.substance)
    transfer(batch=good, to_group=group, grams=D("50"), by=admin)
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


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_distribution_racing_a_severe_report_never_goes_out_after_the_hold_commits():
    """Fifteen desks hand out the batch while a severe report comes in. Every distribution
    either committed before the hold (the hold waited for it, so its member is on the notice)
    or was refused because the batch is on hold; none is stored after the hold."""
    from distributions import services
    from distributions.models import LedgerEntry
    from distributions.recalls.adverse_events import adverse_event_report
    from distributions.recalls.models import RecallNotice
    from testing_results.models import BatchStatusChange
    from tests.distributions.ledger_helpers import D, batch_in_central, member_in

    admin, coordinator, group = race_people()
    batch = batch_in_central(grams="100", by=admin, created_by=admin)
    transfer(batch=batch, to_group=group, grams=D("50"), by=admin)
    members = [member_in(group, created_by=coordinator) for _ in range(THREADS - 1)]

    def act(i: int):
        if i == THREADS // 2:
            return adverse_event_report(
                batch=batch, occurred_at=timezone.now(), outcome="naloxone", severity="severe", by=coordinator
            )
        member = members[i if i < THREADS // 2 else i - 1]
        return services.distribution_record(
            member=member, batch=batch, grams=Decimal("1.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
        )

    results = race(THREADS, act)
    outcome = _outcome(results)
    assert outcome["ok"] + outcome.get("refused:batch_on_hold", 0) == THREADS, results
    hold = BatchStatusChange.objects.get(batch=batch, to_status="on_hold")
    handed = LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.DISTRIBUTION)
    assert handed.count() == outcome["ok"] - 1  # every success but the report is a distribution
    # Each stored distribution committed before the hold: the notice, issued in the hold's
    # transaction after it locked the batch, counts every one of them.
    notice = RecallNotice.objects.get(batch=batch, group=group)
    assert notice.status_change_id == hold.pk
    assert notice.members_count == handed.count()
    assert notice.received_grams == D(handed.count())
    assert not handed.filter(recorded_at__gt=hold.changed_at).exists()
