"""Rows of the recalls app written straight through the ORM (constraint and admin tests)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from distributions.recalls.models import AdverseEvent, AdverseEventThreshold, MemberTold, RecallNotice, Replacement
from tests import factories as f


def notice(**kw) -> RecallNotice:
    change = kw.pop("status_change", None) or f.BatchStatusChangeFactory(from_status="released", to_status="recalled")
    fields = {
        "batch": change.batch, "group": kw.pop("group", None) or f.MemberGroupFactory(), "status_change": change,
        "kind": "recalled", "issued_at": timezone.now(), "store_grams": Decimal("1.000"), "members_count": 1,
        "received_grams": Decimal("2.000"), **kw,
    }
    return RecallNotice.objects.create(**fields)


def told(**kw) -> MemberTold:
    fields = {"member": f.MemberFactory(), "batch": f.BatchFactory(), "told_by": f.UserFactory(), "told_at": timezone.now(), **kw}
    return MemberTold.objects.create(**fields)


def adverse(**kw) -> AdverseEvent:
    fields = {"batch": f.BatchFactory(), "occurred_at": timezone.now(), "outcome": "other", "severity": "mild",
              "reported_by": f.UserFactory(), "reported_at": timezone.now(), **kw}
    return AdverseEvent.objects.create(**fields)


def threshold(**kw) -> AdverseEventThreshold:
    return AdverseEventThreshold.objects.create(**{"id": 1, **kw})


__all__ = ["Replacement", "adverse", "notice", "threshold", "told"]
