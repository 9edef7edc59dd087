"""Rows breaking each named custody constraint, written straight through the ORM; the
constraint test of ``tests/foundation/test_constraints.py`` runs them with the others."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from distributions.models import (
    Account,
    BatchReceipt,
    CustodyPolicy,
    DifferenceReview,
    Manifest,
    StockCount,
    StockCountLine,
    WitnessedDestruction,
)
from tests import factories as f


def _central() -> Account:
    return Account.objects.get_or_create(kind=Account.Kind.CENTRAL, group=None)[0]


def manifest(**kw) -> Manifest:
    """A manifest row: in transit unless told otherwise."""
    entry = f.LedgerEntryFactory(kind="manifest_send")
    fields = {
        "batch": entry.batch, "from_store": _central(), "to_store": f.AccountFactory(), "grams_sent": Decimal("10.000"),
        "packages": 1, "sent_by": entry.recorded_by, "sent_at": timezone.now(), "send_entry": entry, **kw,
    }
    return Manifest.objects.create(**fields)


def _received(**kw) -> dict:
    return {"status": "received", "received_by": f.UserFactory(), "received_at": timezone.now(),
            "grams_received": Decimal("10.000"), **kw}


def destruction(**kw) -> WitnessedDestruction:
    fields = {"entry": f.LedgerEntryFactory(kind="destruction"), "destroyed_by": f.UserFactory(),
              "witness": f.UserFactory(), "method": "incineration", **kw}
    return WitnessedDestruction.objects.create(**fields)


def _self_witnessed():
    user = f.UserFactory()
    destruction(destroyed_by=user, witness=user)


def count(**kw) -> StockCount:
    fields = {"store": _central(), "counted_by": f.UserFactory(), "signed_by": f.UserFactory(),
              "signed_at": timezone.now(), **kw}
    return StockCount.objects.create(**fields)


def _self_signed_count():
    user = f.UserFactory()
    count(counted_by=user, signed_by=user)


def line(**kw) -> StockCountLine:
    fields = {"count": count(), "batch": f.BatchFactory(), "counted_grams": Decimal("1.000"),
              "ledger_grams": Decimal("1.000"), **kw}
    return StockCountLine.objects.create(**fields)


def _line_twice():
    first = line()
    line(count=first.count, batch=first.batch)


def receipt(**kw) -> BatchReceipt:
    fields = {"batch": f.BatchFactory(), "supplier_ref": "SUP-0014", "supplier_lot": "L-1", "packages": 1,
              "weighed_grams": Decimal("10.000"), "received_by": f.UserFactory(), "confirmed_by": f.UserFactory(),
              "received_at": timezone.now(), **kw}
    return BatchReceipt.objects.create(**fields)


def _self_confirmed_receipt():
    user = f.UserFactory()
    receipt(received_by=user, confirmed_by=user)


def review(**kw) -> DifferenceReview:
    fields = {"reason": "handling_loss", "reviewed_by": f.UserFactory(), "reviewed_at": timezone.now(), **kw}
    return DifferenceReview.objects.create(**fields)


CASES = {
    "custodypolicy_single_row": lambda: CustodyPolicy.objects.create(pk=2),
    "custodypolicy_tolerance_grams_not_negative": lambda: CustodyPolicy.objects.create(pk=1, tolerance_grams=Decimal("-0.001")),
    "custodypolicy_tolerance_percent_range": lambda: CustodyPolicy.objects.create(pk=1, tolerance_percent=Decimal("100.01")),
    "custodypolicy_count_interval_positive": lambda: CustodyPolicy.objects.create(pk=1, count_interval_days=0),
    "manifest_grams_sent_positive": lambda: manifest(grams_sent=Decimal("0.000")),
    "manifest_packages_positive": lambda: manifest(packages=0),
    "manifest_stores_differ": lambda: manifest(to_store=_central()),
    "manifest_status_valid": lambda: manifest(status="lost"),
    "manifest_received_iff_status": lambda: manifest(status="received"),
    "manifest_cancelled_iff_status": lambda: manifest(status="cancelled"),
    "manifest_grams_received_not_negative": lambda: manifest(**_received(
        grams_received=Decimal("-1.000"), difference_reason="missing",
        difference_entry=f.LedgerEntryFactory(kind="manifest_diff", reason="missing"))),
    "manifest_difference_has_reason_and_entry": lambda: manifest(**_received(grams_received=Decimal("9.000"))),
    "manifest_flagged_only_received": lambda: manifest(flagged=True),
    "witnesseddestruction_second_person": _self_witnessed,
    "witnesseddestruction_method_valid": lambda: destruction(method="flushed"),
    "stockcount_second_person_signs": _self_signed_count,
    "stockcountline_one_per_batch": _line_twice,
    "stockcountline_counted_not_negative": lambda: line(counted_grams=Decimal("-1.000"), ledger_grams=Decimal("0.000"),
                                                        entry=f.LedgerEntryFactory(kind="adjustment", reason="count_difference")),
    "stockcountline_ledger_not_negative": lambda: line(ledger_grams=Decimal("-1.000"),
                                                       entry=f.LedgerEntryFactory(kind="adjustment", reason="count_difference")),
    "stockcountline_entry_iff_difference": lambda: line(counted_grams=Decimal("2.000")),
    "batchreceipt_packages_positive": lambda: receipt(packages=0),
    "batchreceipt_weighed_grams_positive": lambda: receipt(weighed_grams=Decimal("0.000")),
    "batchreceipt_second_person_confirms": _self_confirmed_receipt,
    "batchreceipt_supplier_ref_is_code": lambda: receipt(supplier_ref="John Smith"),
    "batchreceipt_supplier_lot_is_code": lambda: receipt(supplier_lot="lot 7; drop"),
    "differencereview_one_target": lambda: review(),
    "differencereview_reason_valid": lambda: review(count_line=line(), reason="fine"),
}
