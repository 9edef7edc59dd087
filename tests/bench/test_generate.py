"""The seeded generator writes a ledger that the ledger's own verification accepts."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import F

from bench.generate import Plan, generate
from distributions.models import Account, Balance, LedgerEntry
from distributions.verify import verify_ledger
from members.codes import is_valid_code
from members.models import Member, MemberGroup
from testing_results.models import Batch, DrugCheck, Finding
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def quiet(_line: str) -> None:
    pass


def test_the_plan_shrinks_with_the_scale_but_keeps_a_store_per_worker():
    full = Plan.at(1)
    assert (full.groups, full.members, full.batches, full.entries) == (50, 50_000, 5_000, 2_000_000)
    tiny = Plan.at(0.0001)
    assert tiny.groups == 8 and tiny.members >= 80 and tiny.batches >= 12
    with pytest.raises(ValueError):
        Plan.at(0)


def test_a_tiny_programme_verifies_and_keeps_everyone_inside_the_allowance():
    summary = generate(scale=0.001, seed=7, log=quiet)

    counts = summary["counts"]
    assert MemberGroup.objects.count() == counts["groups"] == 8
    assert Member.objects.count() == counts["members"] == 80
    assert Batch.objects.count() == counts["batches"] == 12
    # FTIR, mass spectrometry, a fentanyl and a benzodiazepine strip: each names what produced it,
    # within its validity, and every strip reports only its lot's class.
    assert DrugCheck.objects.count() == 4 * counts["batches"]
    assert not DrugCheck.objects.filter(instrument__isnull=True, strip_lot__isnull=True).exists()
    assert not DrugCheck.objects.filter(performed_at__date__gt=F("instrument__verified_until")).exists()
    assert not DrugCheck.objects.filter(performed_at__date__gt=F("strip_lot__expires_on")).exists()
    assert not Finding.objects.filter(drug_check__strip_lot__isnull=False).exclude(
        compound__drug_class=F("drug_check__strip_lot__drug_class")
    ).exists()
    assert LedgerEntry.objects.count() == counts["entries"] > 1000
    assert all(is_valid_code(code) for code in Member.objects.values_list("code", flat=True))

    report = verify_ledger()
    assert report.ok, report.summary()
    assert report.entries == counts["entries"]
    internal = Balance.objects.filter(account__kind__in=Account.INTERNAL_KINDS)
    assert not internal.filter(grams__lt=0).exists()

    # No member ever received more than 14 g of a substance inside any rolling 7 days.
    handed: dict[tuple[int, int], list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
    rows = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, reversed_by__isnull=True).values_list(
        "member_id", "batch__substance_id", "occurred_at", "grams"
    )
    for member_id, substance_id, occurred_at, grams in rows:
        handed[(member_id, substance_id)].append((occurred_at, Decimal(grams)))
    assert handed
    for entries in handed.values():
        entries.sort()
        for i, (start, _grams) in enumerate(entries):
            window = sum(g for t, g in entries[i:] if t < start + dt.timedelta(days=7))
            assert window <= Decimal("14.000")


def test_it_refuses_a_database_that_already_holds_members():
    MemberFactory()
    with pytest.raises(RuntimeError, match="fresh database"):
        generate(scale=0.001, seed=1, log=quiet)
