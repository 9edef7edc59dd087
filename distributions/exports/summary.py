"""Distribution summary: group x substance x week or month, with small counts suppressed.

A cell counts the distributions handed out by a group's store of a substance in one period
(weeks start on Monday; both weeks and months are cut at local midnight in America/Vancouver),
the grams and the distinct member codes. Distributions that were reversed are left out (a
reversal corrects a mistake: the grams went back to the store), as the allowance does. The
period filters on ``occurred_at``, when the member received the grams.

Suppression, so that no small group of people can be singled out:

- a count under 5 is written ``<5``;
- when a cell covers fewer than 5 distinct members, everything in it is about those few people:
  its grams are written ``suppressed`` (grams divided by the allowance would reveal roughly how
  many people, and how much each took), and so is its number of distributions when that is 5
  or more;
- no totals are written, per group, substance or period, so a suppressed cell cannot be
  recovered by subtracting the visible cells from a total;
- a coordinator gets only their own groups' cells, so nothing about another group reaches them.

Known limit: an export by month and one by week of the same data can be set side by side; a
month's grams minus its visible weeks' grams can reveal the grams of a suppressed week. Weeks
that straddle two months blur this but do not prevent it. Whoever publishes these figures
should publish one granularity.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth, TruncWeek

from compassionclub.quantities import MILLIGRAM
from distributions.exports.base import CSV, LOCAL_TZ, MONTH, Exporter, register
from distributions.models import LedgerEntry
from distributions.visibility import entries_visible_to

THRESHOLD = 5
ZERO = Decimal("0.000")
SMALL = "<5"
SUPPRESSED = "suppressed"

SUMMARY_COLUMNS = ["group", "substance", "period", "period_start", "period_end", "distributions", "grams", "members"]


def suppress(distributions: int, grams, members: int) -> tuple[Any, Any, Any]:
    if members < THRESHOLD:
        shown_distributions = SMALL if distributions < THRESHOLD else SUPPRESSED
        return shown_distributions, SUPPRESSED, SMALL
    return distributions, grams, members


def _period_end(start: dt.date, period: str) -> dt.date:
    if period == MONTH:
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - dt.timedelta(days=1)
    return start + dt.timedelta(days=6)


@register
class DistributionSummaryCsv(Exporter):
    identifier = "distribution_summary"
    verbose_name = "Distribution summary (group x substance x period, CSV)"
    description = "Distributions, grams and distinct members per group, substance and week or month; counts under 5 suppressed."
    formats = (CSV,)
    parameters = ("date_from", "date_to", "substance_id", "period")

    def header(self) -> list[str]:
        return SUMMARY_COLUMNS

    def queryset(self):
        p = self.params
        qs = p.in_period(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, reversed_by__isnull=True), "occurred_at")
        if p.substance_id:
            qs = qs.filter(batch__substance_id=p.substance_id)
        qs = entries_visible_to(self.user, qs)
        trunc = TruncMonth if p.period == MONTH else TruncWeek
        return (
            qs.annotate(period_start=trunc("occurred_at", tzinfo=LOCAL_TZ))
            .values("from_account__group__short_name", "batch__substance__name", "period_start")
            .annotate(distributions=Count("id"), grams=Sum("grams"), members=Count("member", distinct=True))
            .order_by("from_account__group__short_name", "batch__substance__name", "period_start")
        )

    def rows(self) -> Iterator[Sequence[Any]]:
        period = self.params.period
        for row in self.queryset().iterator(chunk_size=self.chunk_size):
            start = row["period_start"]
            start_date = start.astimezone(LOCAL_TZ).date() if isinstance(start, dt.datetime) else start
            grams = (row["grams"] or ZERO).quantize(MILLIGRAM)
            distributions, grams, members = suppress(row["distributions"], grams, row["members"])
            yield [
                row["from_account__group__short_name"], row["batch__substance__name"], period,
                start_date, _period_end(start_date, period), distributions, grams, members,
            ]
