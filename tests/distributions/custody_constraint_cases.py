"""Rows breaking each named custody constraint, written straight through the ORM; the
constraint test of ``tests/foundation/test_constraints.py`` runs them with the others."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from distributions.models import Account, CustodyPolicy, Manifest
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
}
