"""Reads of the stock ledger that take more than one queryset.

Every function here is a read; writes go through ``distributions.services``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from compassionclub.quantities import to_grams
from distributions.models import ZERO, Account, Balance, LedgerEntry
from distributions.visibility import entries_visible_to, sees_batch_reach_everywhere, stock_visible_to
from members.models import Member, MemberGroup
from testing_results.models import Batch, Substance


def group_stock(group: MemberGroup, substance: Substance | None = None) -> QuerySet[Batch]:
    """Released batches the group's store holds, soonest best-before first.

    Each batch carries ``group_grams``, the grams in the group's store. One query.
    """
    store_grams = Balance.objects.filter(
        account__kind=Account.Kind.GROUP, account__group=group, batch=OuterRef("pk")
    ).values("grams")[:1]
    qs = (
        Batch.objects.filter(
            status=Batch.Status.RELEASED,
            balances__account__kind=Account.Kind.GROUP,
            balances__account__group=group,
            balances__grams__gt=0,
        )
        .annotate(group_grams=Subquery(store_grams))
        .select_related("substance")
    )
    if substance is not None:
        qs = qs.filter(substance=substance)
    return qs.order_by(F("best_before").asc(nulls_last=True), "received_on", "id")


@dataclass(frozen=True)
class Recipient:
    group_short_name: str
    member_code: str
    grams: Decimal
    occurred_at: dt.datetime


def batch_recipients(batch: Batch, user) -> list[Recipient]:
    """Who received ``batch``: one row per distribution that was not reversed.

    Answers "which groups and which member codes received this batch" for a recall, limited to
    the groups ``user`` may see. Ordered by group, then time. One query.
    """
    qs = entries_visible_to(
        user, LedgerEntry.objects.filter(batch=batch, kind__in=LedgerEntry.HANDED_OUT, reversed_by__isnull=True)
    )
    rows = qs.order_by("member__group__short_name", "occurred_at", "id").values_list(
        "member__group__short_name", "member__code", "grams", "occurred_at"
    )
    return [Recipient(group, code, to_grams(grams), at) for group, code, grams, at in rows]


def stock_by_group(batch: Batch, user) -> list[tuple[str, Decimal]]:
    """Grams of ``batch`` in each store ``user`` may see (central first), for recall and
    destruction screens."""
    rows = (
        stock_visible_to(user, Balance.objects.filter(batch=batch, internal=True))
        .exclude(grams=0)
        .exclude(account__kind=Account.Kind.REFERENCE)
        .order_by("account__kind", "account__group__short_name")
        .values_list("account__kind", "account__group__short_name", "grams")
    )
    # Grams on a manifest sit in the one in-transit account, which has no group: named by its
    # kind, like the central store, never as a missing group ("None").
    return [(short_name or Account.Kind(kind).label, to_grams(grams)) for kind, short_name, grams in rows]


@dataclass(frozen=True)
class GroupReach:
    """How far a batch went in one group: counts and grams, never member codes."""

    group_short_name: str
    store_grams: Decimal
    members: int
    received_grams: Decimal


def batch_reach_by_group(batch: Batch, user) -> list[GroupReach]:
    """Per group the user may see: grams of ``batch`` still in the group's store, how many
    distinct members received it and how many grams (distributions not reversed).

    Groups with neither stock nor recipients are left out. Ordered by group. Two queries.
    """
    return [reach for _group_id, reach in batch_reach(batch, user)]


def batch_reach(batch: Batch, user=None) -> list[tuple[int, GroupReach]]:
    """``batch_reach_by_group`` with each group's id; with no ``user``, every group: what a
    recall notice is issued from, whoever holds or recalls the batch."""
    stores = Balance.objects.filter(batch=batch, account__kind=Account.Kind.GROUP).exclude(grams=0)
    received = LedgerEntry.objects.filter(batch=batch, kind__in=LedgerEntry.HANDED_OUT, reversed_by__isnull=True)
    if user is not None and not sees_batch_reach_everywhere(user):
        stores = stock_visible_to(user, stores)
        received = entries_visible_to(user, received)
    rows: dict[tuple[str, int], list] = {}
    for short_name, group_id, grams in stores.values_list("account__group__short_name", "account__group_id", "grams"):
        rows[(short_name, group_id)] = [Decimal(grams), 0, ZERO]
    for short_name, group_id, members, grams in (
        received.values("member__group__short_name", "member__group_id")
        .annotate(members=Count("member", distinct=True), grams=Sum("grams"))
        .values_list("member__group__short_name", "member__group_id", "members", "grams")
    ):
        row = rows.setdefault((short_name, group_id), [ZERO, 0, ZERO])
        row[1], row[2] = members, Decimal(grams)
    return [
        (group_id, GroupReach(name, to_grams(store), members, to_grams(got)))
        for (name, group_id), (store, members, got) in sorted(rows.items())
    ]


# A member's history, for the member page ------------------------------------------------------

HISTORY_WEEKS = 8


def member_visits(member: Member, user, since: dt.datetime) -> list[LedgerEntry]:
    """The member's distributions since ``since`` that ``user`` may see, newest first, each with
    its batch, substance and reversal (``reversed_by``, None if it stands). One query."""
    qs = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member, occurred_at__gte=since)
    return list(
        entries_visible_to(user, qs).select_related("batch__substance", "reversed_by").order_by("-occurred_at", "-id")
    )


def weekly_received(visits: list[LedgerEntry], weeks: list[dt.date]) -> dict[str, dict[dt.date, Decimal]]:
    """Grams received per substance and local week (Monday), undone lines left out."""
    zone = timezone.get_current_timezone()
    result: dict[str, dict[dt.date, Decimal]] = {}
    for entry in visits:
        if getattr(entry, "reversed_by", None) is not None:
            continue
        day = entry.occurred_at.astimezone(zone).date()
        week = day - dt.timedelta(days=day.weekday())
        if week < weeks[0]:
            continue
        by_week = result.setdefault(entry.batch.substance.name, {})
        by_week[week] = by_week.get(week, Decimal("0.000")) + entry.grams
    return result


@dataclass(frozen=True)
class ReferenceMovement:
    at: dt.datetime
    what: str
    grams: Decimal
    by: str
    witness: str = ""


@dataclass(frozen=True)
class ReferenceSample:
    """A batch's reference sample as the ledger records it: retained at receipt, used by
    retests, destroyed witnessed; ``held`` is what the reference account holds now."""

    retained: Decimal
    held: Decimal
    movements: list[ReferenceMovement]

    @property
    def destroyed(self) -> bool:
        return any(m.witness for m in self.movements)


def reference_sample(batch: Batch) -> ReferenceSample:
    """Every entry into or out of the reference account for ``batch``, in order. Two queries."""
    K = LedgerEntry.Kind
    reference = Account.Kind.REFERENCE
    entries = (
        LedgerEntry.objects.filter(batch=batch)
        .filter(Q(from_account__kind=reference) | Q(to_account__kind=reference))
        .select_related("recorded_by", "to_account", "witnessed__witness")
        .order_by("recorded_at", "id")
    )
    movements, retained = [], ZERO
    for e in entries:
        witnessed = getattr(e, "witnessed", None)
        if e.kind == K.REFERENCE:
            what = "Retained at receipt"
            retained += e.grams
        elif e.kind == K.SAMPLE:
            what = "Used by a retest"
        elif e.kind == K.DESTRUCTION:
            what = f"Destroyed ({witnessed.get_method_display().lower()})" if witnessed else "Destroyed"
        else:
            what = e.get_kind_display()
        movements.append(ReferenceMovement(
            e.occurred_at, what, to_grams(e.grams), e.recorded_by.get_username(),
            witnessed.witness.get_username() if witnessed else "",
        ))
    held = Balance.objects.filter(batch=batch, account__kind=reference).values_list("grams", flat=True).first()
    return ReferenceSample(to_grams(retained), to_grams(held or ZERO), movements)
