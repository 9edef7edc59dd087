"""What the status page reads about one member, besides ``check_eligibility``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Max, Sum

from distributions.models import LedgerEntry
from members.models import Member
from testing_results.models import Batch, BatchStatusChange

# Batches the page lists, most recent first; alerts cover every batch ever received.
RECENT_BATCHES = 20
ALERT_STATUSES = (Batch.Status.RECALLED, Batch.Status.ON_HOLD)


@dataclass(frozen=True)
class ReceivedBatch:
    batch_id: int
    code: str
    substance: str
    status: str
    label_text: str
    substance_fr: str
    label_text_fr: str
    grams: Decimal
    last_received_at: dt.datetime
    alert_reason: str


def batches_received(member: Member) -> tuple[list[ReceivedBatch], list[ReceivedBatch]]:
    """(alerts, recent): batches the member received (net of reversals) that are recalled or
    on hold, and the most recent batches received. Three queries."""
    rows = list(
        LedgerEntry.objects.filter(kind__in=LedgerEntry.HANDED_OUT, member=member, reversed_by__isnull=True)
        .values("batch_id", "batch__code", "batch__substance__name", "batch__status", "batch__label_text",
                "batch__substance__name_fr", "batch__label_text_fr")
        .annotate(grams=Sum("grams"), last=Max("occurred_at"))
        .order_by("-last", "batch_id")
    )
    alert_ids = [r["batch_id"] for r in rows if r["batch__status"] in ALERT_STATUSES]
    reasons: dict[int, str] = {}
    if alert_ids:
        for change in BatchStatusChange.objects.filter(batch_id__in=alert_ids, to_status__in=ALERT_STATUSES).order_by(
            "changed_at", "id"
        ):
            reasons[change.batch_id] = change.reason  # the latest wins
    batches = [
        ReceivedBatch(
            batch_id=r["batch_id"],
            code=r["batch__code"],
            substance=r["batch__substance__name"],
            status=r["batch__status"],
            label_text=r["batch__label_text"],
            substance_fr=r["batch__substance__name_fr"],
            label_text_fr=r["batch__label_text_fr"],
            grams=r["grams"],
            last_received_at=r["last"],
            alert_reason=reasons.get(r["batch_id"], ""),
        )
        for r in rows
    ]
    alerts = [b for b in batches if b.status in ALERT_STATUSES]
    return alerts, batches[:RECENT_BATCHES]
