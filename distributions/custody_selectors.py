"""Reads of custody records for the dashboard and the exports. Who sees which rows is
``distributions.visibility``; nothing here writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Max, Q
from django.utils import timezone

from distributions.models import Account, CustodyPolicy, Manifest, StockCountLine
from distributions.visibility import manifests_visible_to, stores_visible_to


@dataclass(frozen=True)
class OnTheRoad:
    manifest: Manifest
    age: dt.timedelta

    @property
    def age_text(self) -> str:
        hours = int(self.age.total_seconds() // 3600)
        if hours < 1:
            return "under an hour"
        if hours < 48:
            return f"{hours} h"
        return f"{hours // 24} days"

    @property
    def grams(self) -> Decimal:
        return Decimal(self.manifest.grams_sent).quantize(Decimal("0.001"))


def manifests_in_transit(user, *, now: dt.datetime | None = None) -> list[OnTheRoad]:
    """Manifests on the road that ``user`` may see, oldest first, with how long they have been
    out. One query."""
    now = now or timezone.now()
    qs = manifests_visible_to(user, Manifest.objects.filter(status=Manifest.Status.IN_TRANSIT))
    qs = qs.select_related("batch__substance", "from_store__group", "to_store__group").order_by("sent_at", "id")
    return [OnTheRoad(manifest=m, age=now - m.sent_at) for m in qs]


@dataclass(frozen=True)
class CountDue:
    store: Account
    last_counted: dt.datetime | None
    days_since: int | None


def stores_overdue_for_count(user, *, now: dt.datetime | None = None) -> list[CountDue]:
    """Active stores ``user`` may see whose last signed count is older than the programme's
    interval (or who were never counted), longest overdue first. One query (and the policy)."""
    now = now or timezone.now()
    interval = dt.timedelta(days=CustodyPolicy.current().count_interval_days)
    stores = (
        stores_visible_to(user)
        .filter(Q(kind=Account.Kind.CENTRAL) | Q(group__is_active=True))
        .annotate(last_counted=Max("counts__signed_at"))
        .filter(Q(last_counted__isnull=True) | Q(last_counted__lt=now - interval))
        .select_related("group")
        .order_by(F("last_counted").asc(nulls_first=True), "kind", "group__short_name")
    )
    return [
        CountDue(store=s, last_counted=s.last_counted, days_since=(now - s.last_counted).days if s.last_counted else None)
        for s in stores
    ]


@dataclass(frozen=True)
class Flagged:
    """A difference beyond the tolerance waiting for review: a received manifest or a count
    line. ``kind`` is "manifest" or "count"."""

    kind: str
    item: Manifest | StockCountLine
    when: dt.datetime
    store: Account
    expected: Decimal
    found: Decimal
    recorded_by: object

    @property
    def difference(self) -> Decimal:
        return self.found - self.expected

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.item.pk}"


def flagged_unreviewed() -> list[Flagged]:
    """Every flagged difference not yet reviewed, oldest first. Two queries. Reviewers are
    programme-wide (programme admins, release officers), so this is not scoped by group."""
    manifests = (
        Manifest.objects.filter(flagged=True, review__isnull=True)
        .select_related("batch__substance", "to_store__group", "received_by")
    )
    lines = (
        StockCountLine.objects.filter(flagged=True, review__isnull=True)
        .select_related("batch__substance", "count__store__group", "count__counted_by")
    )
    rows = [Flagged("manifest", m, m.received_at, m.to_store, Decimal(m.grams_sent), Decimal(m.grams_received),
                    m.received_by) for m in manifests]
    rows += [Flagged("count", line, line.count.signed_at, line.count.store, Decimal(line.ledger_grams),
                     Decimal(line.counted_grams), line.count.counted_by) for line in lines]
    return sorted(rows, key=lambda r: (r.when, r.key))


def unreviewed_count() -> int:
    return (Manifest.objects.filter(flagged=True, review__isnull=True).count()
            + StockCountLine.objects.filter(flagged=True, review__isnull=True).count())


@dataclass(frozen=True)
class PullBack:
    """Where a recalled (or held) batch's grams in one group's store stand, and where the
    group's staff go to send them back or destroy them before a witness."""

    store: Account | None
    in_store: Decimal
    on_the_road: Decimal
    send_url: str
    destroy_url: str

    @property
    def done(self) -> bool:
        return not self.in_store and not self.on_the_road


def pull_back(batch, group_id: int) -> PullBack:
    """The pull-back of ``batch`` from ``group_id``'s store: grams still there, grams on a
    manifest back to the central store, and the two pages (prefilled) that empty the store."""
    from urllib.parse import urlencode

    from django.db.models import Sum
    from django.urls import reverse

    store = Account.objects.filter(kind=Account.Kind.GROUP, group_id=group_id).first()
    central = Account.objects.filter(kind=Account.Kind.CENTRAL, group=None).first()
    if store is None:
        return PullBack(None, Decimal("0.000"), Decimal("0.000"), "", "")
    held = store.balances.filter(batch=batch).values_list("grams", flat=True).first() or 0
    road = Manifest.objects.filter(batch=batch, from_store=store, status=Manifest.Status.IN_TRANSIT).aggregate(
        g=Sum("grams_sent"))["g"] or 0
    in_store = Decimal(held).quantize(Decimal("0.001"))
    send = {"batch": batch.pk, "from_store": store.pk, "grams": in_store}
    if central is not None:
        send["to_store"] = central.pk
    return PullBack(
        store=store, in_store=in_store, on_the_road=Decimal(road).quantize(Decimal("0.001")),
        send_url=f"{reverse('admin:distributions_manifest_add')}?{urlencode(send)}",
        destroy_url=f"{reverse('admin:distributions_witnesseddestruction_add')}?"
                    + urlencode({"store": store.pk, "batch": batch.pk, "grams": in_store, "reason": "recalled"}),
    )
