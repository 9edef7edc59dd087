"""The chain of custody of batches as CSV: every hand-off of the grams, with who and when.

One row per event, in the order the ledger recorded them: the receipt from the supplier (the
supplier's code and lot, packages, weighed grams, who weighed and who confirmed), each manifest
sent, received (grams weighed, difference and its reason) or cancelled, each count (grams
counted against the ledger at signing, who counted and who signed), samples taken by checks,
destruction (the witness and the method), other transfers and adjustments. Distributions are
summed per store and local day (grams and how many hand-outs, never member codes): custody
follows grams to the members' account; which member is the ledger export's business.

Everything is read from ledger entries the user may see (``entries_visible_to``), with the
custody record beside each entry joined in the same query, so the file and the ledger agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from compassionclub.errors import ServiceError
from distributions.exports.base import CSV, LOCAL_TZ, Exporter, register
from distributions.models import LedgerEntry, StockCountLine
from distributions.visibility import batches_visible_to, counts_visible_to, entries_visible_to
from testing_results.models import Batch

CUSTODY_COLUMNS = [
    "batch_code", "at", "event", "from", "to", "grams", "weighed_grams", "difference_grams", "reason",
    "packages", "reference", "by", "second_person", "entry_id", "entry_hash",
]
K = LedgerEntry.Kind
MILLIGRAM = Decimal("0.001")


def _store(account) -> str:
    return f"group:{account.group.short_name}" if account.group_id else account.kind


def _user(user) -> str:
    return user.get_username() if user is not None else ""


@dataclass(frozen=True)
class Event:
    batch_code: str
    at: Any
    event: str
    source: str
    destination: str
    grams: Decimal | None
    weighed: Decimal | None = None
    difference: Decimal | None = None
    reason: str = ""
    packages: int | None = None
    reference: str = ""
    by: str = ""
    second: str = ""
    entry_id: int | None = None
    entry_hash: str = ""

    @property
    def timed(self) -> bool:
        """A moment (an entry, a count) rather than a day (a day's hand-outs)."""
        return hasattr(self.at, "hour")

    def row(self) -> list[Any]:
        return [
            self.batch_code, self.at.astimezone(LOCAL_TZ) if self.timed else self.at, self.event,
            self.source, self.destination, self.grams, self.weighed, self.difference, self.reason, self.packages,
            self.reference, self.by, self.second, self.entry_id, self.entry_hash,
        ]


def _entry_event(e: LedgerEntry) -> Event:
    base = {"batch_code": e.batch.code, "at": e.recorded_at, "source": _store(e.from_account),
            "destination": _store(e.to_account), "grams": e.grams, "reason": e.reason, "by": _user(e.recorded_by),
            "entry_id": e.pk, "entry_hash": e.hash}
    if e.kind == K.INTAKE:
        receipt = getattr(e.batch, "receipt", None)
        if receipt is not None:
            return Event(event="received from supplier", weighed=receipt.weighed_grams, packages=receipt.packages,
                         reference=f"{receipt.supplier_ref} lot {receipt.supplier_lot}", second=_user(receipt.confirmed_by),
                         **{**base, "by": _user(receipt.received_by)})
        return Event(event="received from supplier", **base)
    manifest = getattr(e, "manifest_sent", None)
    if manifest is not None:
        return Event(event="manifest sent", packages=manifest.packages, reference=manifest.code,
                     **{**base, "destination": f"in_transit to {_store(manifest.to_store)}"})
    manifest = getattr(e, "manifest_received", None)
    if manifest is not None:
        return Event(event="manifest received", weighed=manifest.grams_received, difference=manifest.difference,
                     packages=manifest.packages, reference=manifest.code, second=_user(manifest.sent_by),
                     **{**base, "reason": manifest.difference_reason})
    manifest = getattr(e, "manifest_difference", None)
    if manifest is not None:
        return Event(event="manifest difference", reference=manifest.code, **base)
    manifest = getattr(e, "manifest_cancelled", None)
    if manifest is not None:
        return Event(event="manifest cancelled", reference=manifest.code, **base)
    line = getattr(e, "count_line", None)
    if line is not None:
        return Event(event="count difference", weighed=line.counted_grams, difference=line.difference,
                     reference=f"count #{line.count_id}", second=_user(line.count.signed_by), **base)
    if e.kind == K.DESTRUCTION:
        witnessed = getattr(e, "witnessed", None)
        if witnessed is not None:
            return Event(event="destroyed before a witness", second=_user(witnessed.witness),
                         reference=witnessed.get_method_display(), **base)
        return Event(event="destroyed", **base)
    labels = {K.SAMPLE: "sampled by a check", K.TRANSFER: "transferred", K.ADJUSTMENT: "adjusted",
              K.REVERSAL: f"reversal of entry #{e.reverses_id}"}
    return Event(event=labels.get(e.kind, e.kind), **base)


def custody_events(batches, user) -> list[Event]:
    """Every custody event of ``batches`` (a queryset) visible to ``user``, oldest first.
    Three queries: the entries with their custody records, the counts that matched (no entry),
    and the distributions summed per store and local day."""
    entries = (
        entries_visible_to(user, LedgerEntry.objects.filter(batch__in=batches))
        .exclude(kind=K.DISTRIBUTION)
        .exclude(kind=K.REVERSAL, reverses__kind=K.DISTRIBUTION)
        .select_related(
            "batch__receipt__received_by", "batch__receipt__confirmed_by", "from_account__group", "to_account__group",
            "recorded_by", "manifest_sent__to_store__group", "manifest_received__sent_by", "manifest_difference",
            "manifest_cancelled", "count_line__count__signed_by", "witnessed__witness",
        )
        .order_by("recorded_at", "id")
    )
    events = [_entry_event(e) for e in entries]
    matched = (
        StockCountLine.objects.filter(batch__in=batches, entry__isnull=True, count__in=counts_visible_to(user))
        .select_related("batch", "count__store__group", "count__counted_by", "count__signed_by")
    )
    for line in matched:
        count = line.count
        events.append(Event(
            batch_code=line.batch.code, at=count.signed_at, event="counted, matches the ledger", source=_store(count.store),
            destination=_store(count.store), grams=None, weighed=line.counted_grams, difference=Decimal("0.000"),
            reference=f"count #{count.pk}", by=_user(count.counted_by), second=_user(count.signed_by),
        ))
    handed = (
        entries_visible_to(user, LedgerEntry.objects.filter(batch__in=batches, kind=K.DISTRIBUTION, reversed_by__isnull=True))
        .annotate(day=TruncDate("occurred_at", tzinfo=LOCAL_TZ))
        # Per coordinator too: who handed the grams out is part of the chain; which member is not.
        .values("batch__code", "from_account__kind", "from_account__group__short_name", "day", "recorded_by__username")
        .annotate(grams=Sum("grams"), n=Count("id"))
        .order_by("day", "batch__code", "from_account__group__short_name", "recorded_by__username")
    )
    for row in handed:
        store = f"group:{row['from_account__group__short_name']}" if row["from_account__group__short_name"] else row["from_account__kind"]
        events.append(Event(
            batch_code=row["batch__code"], at=row["day"], event=f"handed out to members ({row['n']} hand-outs)",
            source=store, destination="members", grams=Decimal(row["grams"]).quantize(MILLIGRAM),
            by=row["recorded_by__username"],
        ))

    def key(event: Event):
        at = event.at
        moment = at.astimezone(LOCAL_TZ) if event.timed else None
        day = moment.date() if moment is not None else at
        # A day's hand-outs come after that day's timed events.
        return (day, moment is None, moment.time() if moment is not None else None, event.entry_id or 0)

    return sorted(events, key=key)


@register
class CustodyCsv(Exporter):
    identifier = "custody"
    verbose_name = "Chain of custody (CSV)"
    description = ("Every hand-off of a batch: receipt from the supplier, manifests with their weights and differences, "
                   "counts, samples, destruction, with who and when. Hand-outs to members are summed per store and day.")
    formats = (CSV,)
    parameters = ("batch_id",)

    def check(self) -> None:
        super().check()
        self.batches = batches_visible_to(self.user, Batch.objects.all())
        if self.params.batch_id:
            self.batches = self.batches.filter(pk=self.params.batch_id)
            if not self.batches.exists():
                raise ServiceError("batch_not_found", "No batch with that id is visible to you.")

    def header(self) -> list[str]:
        return CUSTODY_COLUMNS

    def rows(self) -> Iterator[Sequence[Any]]:
        for event in custody_events(self.batches, self.user):
            yield event.row()
