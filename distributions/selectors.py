"""Reads of the stock ledger that take more than one queryset.

Every function here is a read; writes go through ``distributions.services``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum
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
        .order_by("account__kind", "account__group__short_name")
        .values_list("account__kind", "account__group__short_name", "grams")
    )
    return [
        ("Central store" if kind == Account.Kind.CENTRAL else short_name, to_grams(grams))
        for kind, short_name, grams in rows
    ]


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
