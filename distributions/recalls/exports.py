"""Recall and adverse-event exports: a CSV of adverse-event reports per batch and period (the
summary export's small-count suppression), a recall report PDF per batch for auditors, and a
poster per held or recalled batch for the drop-in wall (English and French, no member data).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from compassionclub.errors import ServiceError
from distributions.exports.base import CSV, LOCAL_TZ, MONTH, Exporter, register
from distributions.exports.batch_pdf import BatchPdf
from distributions.exports.summary import SMALL, THRESHOLD, _period_end
from distributions.models import Account, LedgerEntry, Manifest
from distributions.recalls.models import AdverseEvent, MemberTold, RecallNotice, Replacement, StatusAlertSeen
from distributions.recalls.selectors import harmful_found, told_count
from distributions.visibility import batches_visible_to
from testing_results.models import Batch

MILLIGRAM = Decimal("0.001")
ADVERSE_COLUMNS = [
    "batch_code", "substance", "period", "period_start", "period_end", "outcome", "severity", "reports",
    "members_named", "batch_held_by_a_report",
]


def _small(n: int) -> Any:
    return SMALL if n < THRESHOLD else n


def _visible_batch(exporter: Exporter, statuses=None) -> Batch:
    qs = batches_visible_to(exporter.user, Batch.objects.select_related("substance")).filter(pk=exporter.params.batch_id)
    batch = qs.first()
    if batch is None:
        raise ServiceError("batch_not_found", "No batch with that id is visible to you.")
    if statuses is not None and batch.status not in statuses:
        raise ServiceError("batch_not_recalled", f"Batch {batch.code} is not on hold or recalled.")
    return batch


@register
class AdverseEventsCsv(Exporter):
    """Reports per batch, outcome, severity and week or month of when it happened. Counts under
    5 are written ``<5`` (reports and members named), and no totals are written, as in the
    distribution summary; no member code ever appears."""

    identifier = "adverse_events"
    verbose_name = "Adverse events (batch x outcome x severity x period, CSV)"
    description = "Reports per batch, outcome, severity and week or month; counts under 5 suppressed."
    formats = (CSV,)
    parameters = ("batch_id", "date_from", "date_to", "period")

    def check(self) -> None:
        super().check()
        if self.params.batch_id:
            _visible_batch(self)

    def header(self) -> list[str]:
        return ADVERSE_COLUMNS

    def queryset(self):
        p = self.params
        qs = p.in_period(AdverseEvent.objects.filter(batch__in=batches_visible_to(self.user)), "occurred_at")
        if p.batch_id:
            qs = qs.filter(batch_id=p.batch_id)
        trunc = TruncMonth if p.period == MONTH else TruncWeek
        return (
            qs.annotate(period_start=trunc("occurred_at", tzinfo=LOCAL_TZ))
            .values("batch__code", "batch__substance__name", "period_start", "outcome", "severity")
            .annotate(reports=Count("id"), members=Count("member", distinct=True), held=Count("id", filter=Q(held_batch=True)))
            .order_by("batch__code", "period_start", "outcome", "severity")
        )

    def rows(self) -> Iterator[Sequence[Any]]:
        period = self.params.period
        for row in self.queryset().iterator(chunk_size=self.chunk_size):
            start = row["period_start"]
            start_date = start.astimezone(LOCAL_TZ).date() if isinstance(start, dt.datetime) else start
            yield [
                row["batch__code"], row["batch__substance__name"], period, start_date, _period_end(start_date, period),
                row["outcome"], row["severity"], _small(row["reports"]), _small(row["members"]), row["held"] > 0,
            ]


@dataclass(frozen=True)
class Returned:
    """Stock a group sent back to the central store, as the report lists it."""

    occurred_at: dt.datetime
    from_account: Account
    grams: Decimal
    recorded_by: Any


def pulled_back_to_centre(batch: Batch, since) -> list[Returned]:
    """Manifests from a group's store received at the central store since ``since`` (the grams
    weighed on arrival, by the receiver), and the instant transfers the ledger kept from before
    manifests."""
    manifests = (
        Manifest.objects.filter(batch=batch, status=Manifest.Status.RECEIVED, from_store__kind=Account.Kind.GROUP,
                                to_store__kind=Account.Kind.CENTRAL, received_at__gte=since)
        .select_related("from_store__group", "received_by")
    )
    legacy = LedgerEntry.objects.filter(
        batch=batch, kind=LedgerEntry.Kind.TRANSFER, from_account__kind=Account.Kind.GROUP,
        to_account__kind=Account.Kind.CENTRAL, recorded_at__gte=since, reversed_by__isnull=True,
    ).select_related("from_account__group", "recorded_by")
    rows = [Returned(m.received_at, m.from_store, m.grams_received, m.received_by) for m in manifests]
    rows += [Returned(e.occurred_at, e.from_account, e.grams, e.recorded_by) for e in legacy]
    return sorted(rows, key=lambda r: r.occurred_at)


def recall_record(batch: Batch) -> dict[str, Any]:
    """What the recall report shows: notices and acknowledgements, stock pulled back and
    destroyed since the first hold or recall, members told, replacements, adverse events."""
    notices = list(
        RecallNotice.objects.filter(batch=batch).select_related("group", "acknowledged_by", "status_change__changed_by")
        .order_by("issued_at", "group__short_name")
    )
    since = notices[0].issued_at if notices else batch.status_changed_at
    pulled_back = pulled_back_to_centre(batch, since)
    destroyed = list(
        LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.DESTRUCTION, recorded_at__gte=since, reversed_by__isnull=True)
        .select_related("from_account__group", "recorded_by", "witnessed__witness").order_by("occurred_at", "id")
    )
    told_at_desk = list(MemberTold.objects.filter(batch=batch).order_by("told_at").values_list("told_at", flat=True))
    recipients = LedgerEntry.objects.filter(batch=batch, kind__in=LedgerEntry.HANDED_OUT, reversed_by__isnull=True)
    seen = (
        StatusAlertSeen.objects.filter(member__in=recipients.values("member"), seen_at__gte=since)
        .values("member").distinct().count()
    )
    replacements = list(
        Replacement.objects.filter(replaces__batch=batch)
        .select_related("entry__batch", "entry__recorded_by", "entry__reversed_by")
        .order_by("entry__occurred_at")
    )
    events = list(AdverseEvent.objects.filter(batch=batch).order_by("occurred_at", "id"))
    # Store stock; the reference sample is kept apart (destroyed witnessed when the batch is finished).
    internal = batch.balances.filter(internal=True).exclude(account__kind=Account.Kind.REFERENCE)
    return {
        "batch": batch,
        "found": harmful_found(batch),
        "history": list(batch.status_history.select_related("changed_by").order_by("changed_at", "id")),
        "notices": [(n, told_count(n)) for n in notices],
        "pulled_back": pulled_back,
        "pulled_back_grams": sum((e.grams for e in pulled_back), Decimal("0")).quantize(MILLIGRAM),
        "destroyed": destroyed,
        "destroyed_grams": sum((e.grams for e in destroyed), Decimal("0")).quantize(MILLIGRAM),
        "still_out": Decimal(internal.aggregate(g=Sum("grams"))["g"] or 0).quantize(MILLIGRAM),
        "told_at_desk": told_at_desk,
        "seen_on_status_page": seen,
        "recipients": recipients.values("member").distinct().count(),
        "replacements": replacements,
        # Grams that stand: a replacement undone (reversed) is listed, marked, and not summed.
        "replaced_grams": sum(
            (r.entry.grams for r in replacements if not hasattr(r.entry, "reversed_by")), Decimal("0")
        ).quantize(MILLIGRAM),
        "events": events,
        "closed": batch.status == Batch.Status.RECALLED and not internal.filter(grams__gt=0).exists()
        and all(n.is_acknowledged for n in notices),
    }


@register
class RecallReportPdf(BatchPdf):
    identifier = "recall_report"
    verbose_name = "Recall report (one batch, PDF)"
    description = "Notices and acknowledgements, stock pulled back and destroyed, members told, replacements and adverse events, with times."
    template = "recalls/recall_report.html"

    def check(self) -> None:
        super().check()
        self.batch = _visible_batch(self)
        if not (self.batch.recall_notices.exists() or self.batch.status in (Batch.Status.ON_HOLD, Batch.Status.RECALLED)):
            raise ServiceError("batch_not_recalled", f"Batch {self.batch.code} has never been held or recalled.")

    def context(self) -> dict[str, Any]:
        return recall_record(self.batch)


@register
class RecallPosterPdf(BatchPdf):
    """A poster for the drop-in wall: the batch, its label, what was found and what to do, in
    English and in French (one page each). Nothing about any member."""

    identifier = "recall_poster"
    verbose_name = "Recall poster (one held or recalled batch, PDF, English and French)"
    description = "For the drop-in wall: batch code, label, what was found, what to do. No member data."
    template = "recalls/poster.html"

    def check(self) -> None:
        super().check()
        self.batch = _visible_batch(self, statuses=(Batch.Status.ON_HOLD, Batch.Status.RECALLED))

    def context(self) -> dict[str, Any]:
        last = self.batch.status_history.filter(to_status=self.batch.status).order_by("-changed_at", "-id").first()
        return {
            "batch": self.batch,
            "recalled": self.batch.status == Batch.Status.RECALLED,
            "found": harmful_found(self.batch),
            "since": timezone.localtime(last.changed_at, LOCAL_TZ) if last else None,
        }
