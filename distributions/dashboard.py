"""The admin index as a dashboard: stock on hand per group and substance, batches waiting for
checks or a release decision, batches on hold or recalled, and grams distributed per week per
substance as a chart drawn on the server (inline SVG: no script, no style attribute, nothing
from another origin, so the CSP holds).

Each section shows only if the user may view what it is made of, and stock and distributions
are scoped to the user's groups. Each section is one query, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from compassionclub.quantities import to_grams
from distributions.custody_selectors import manifests_in_transit, stores_overdue_for_count, unreviewed_count
from distributions.exports.base import LOCAL_TZ
from distributions.exports.services import exports_for, may_export
from distributions.models import Account, Balance, LedgerEntry
from distributions.recalls.adverse_events import may_report_adverse_events
from distributions.recalls.selectors import adverse_by_batch, open_recalls, unacknowledged_notices_for
from distributions.visibility import batches_visible_to, entries_visible_to, stock_visible_to
from testing_results.models import Batch, BatchStatusChange, Compound, DrugCheck, Finding

ZERO = Decimal("0.000")
CHART_WEEKS = 12
# Adverse events shown on the dashboard: the last month's.
ADVERSE_DAYS = 30
# Okabe-Ito colours: told apart by people with the common forms of colour blindness.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def stock_on_hand(user) -> list[dict[str, Any]]:
    released = Q(batch__status=Batch.Status.RELEASED)
    qs = stock_visible_to(user, Balance.objects.filter(internal=True).exclude(account__kind=Account.Kind.REFERENCE))
    return list(
        qs.values("account__kind", "account__group__short_name", "batch__substance__name")
        .annotate(on_hand=Sum("grams"), distributable=Sum("grams", filter=released))
        .filter(on_hand__gt=0)
        .order_by("account__kind", "account__group__short_name", "batch__substance__name")
    )


def batches_waiting(user) -> list[dict[str, Any]]:
    """Quarantined batches, each with the methods still missing (none missing: awaiting a decision)
    and the harmful compounds found (the batch awaits rejection, never a release). Invalidated
    checks count for neither. Two queries."""
    M = DrugCheck.Method
    valid = Q(checks__invalidated_at__isnull=True)
    qs = list(
        batches_visible_to(user)
        .filter(status=Batch.Status.QUARANTINED)
        .annotate(**{m: Count("checks", filter=Q(checks__method=m) & valid) for m in M.values})
        .select_related("substance")
        .order_by("received_on", "code")
    )
    found: dict[int, list[str]] = {}
    for batch_id, name in (
        Finding.objects.filter(
            drug_check__batch__in=[b.pk for b in qs], drug_check__invalidated_at__isnull=True,
            compound__category=Compound.Category.HARMFUL, result__in=[Finding.Result.DETECTED, Finding.Result.POSITIVE],
        ).values_list("drug_check__batch_id", "compound__name").distinct().order_by("compound__name")
    ):
        found.setdefault(batch_id, []).append(name)
    waiting = []
    for batch in qs:
        missing = [M(m).label for m in M.values if getattr(batch, m) == 0]
        waiting.append({"batch": batch, "missing": missing, "awaiting_decision": not missing,
                        "found": found.get(batch.pk, [])})
    return waiting


def batches_held_or_recalled(user) -> list[Batch]:
    last = BatchStatusChange.objects.filter(batch=OuterRef("pk"), to_status=OuterRef("status")).order_by(
        "-changed_at", "-id"
    )
    return list(
        batches_visible_to(user)
        .filter(status__in=[Batch.Status.ON_HOLD, Batch.Status.RECALLED])
        .annotate(last_reason=Subquery(last.values("reason")[:1]))
        .select_related("substance")
        .order_by("status", "-status_changed_at", "code")
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class WeekLabel:
    x: float
    label: str


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 x 10^n at least ``value`` (so the axis reads in round numbers)."""
    if value <= 0:
        return Decimal(10)
    step = Decimal(1)
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def week_starts(today: dt.date, weeks: int = CHART_WEEKS) -> list[dt.date]:
    monday = today - dt.timedelta(days=today.weekday())
    return [monday - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def weekly_handouts(
    user, today: dt.date
) -> tuple[list[dt.date], dict[str, dict[dt.date, Decimal]], dict[dt.date, Decimal]]:
    """Grams distributed per local week and substance, and grams handed out as replacements for
    recalled ones per local week (reversed entries left out of both). One query.

    The bars are distributions only: what members took against their allowance. A replacement
    makes good grams of a recalled batch; counted in the bars it would show demand that was not
    there, so it is shown beside them (a figure under the chart and a column of the table)."""
    weeks = week_starts(today)
    start = dt.datetime.combine(weeks[0], dt.time.min, tzinfo=LOCAL_TZ)
    qs = LedgerEntry.objects.filter(
        kind__in=[LedgerEntry.Kind.DISTRIBUTION, LedgerEntry.Kind.REPLACEMENT],
        reversed_by__isnull=True, occurred_at__gte=start,
    )
    qs = entries_visible_to(user, qs)
    rows = (
        qs.annotate(week=TruncWeek("occurred_at", tzinfo=LOCAL_TZ))
        .values("week", "kind", "batch__substance__name")
        .annotate(grams=Sum("grams"))
        .order_by("batch__substance__name", "week")
    )
    series: dict[str, dict[dt.date, Decimal]] = {}
    replacements: dict[dt.date, Decimal] = {}
    for row in rows:
        week = row["week"].astimezone(LOCAL_TZ).date() if isinstance(row["week"], dt.datetime) else row["week"]
        if row["kind"] == LedgerEntry.Kind.REPLACEMENT:
            replacements[week] = replacements.get(week, ZERO) + to_grams(row["grams"])
        else:
            series.setdefault(row["batch__substance__name"], {})[week] = to_grams(row["grams"])
    return weeks, series, replacements


def weekly_grams(user, today: dt.date) -> tuple[list[dt.date], dict[str, dict[dt.date, Decimal]]]:
    """Grams distributed (reversed distributions left out) per local week and substance."""
    weeks, series, _replacements = weekly_handouts(user, today)
    return weeks, series


def weekly_chart(
    weeks: list[dt.date], series: dict[str, dict[dt.date, Decimal]], replacements: dict[dt.date, Decimal] | None = None
) -> dict[str, Any]:
    """Geometry of a grouped bar chart (one group of bars per week, one bar per substance), and
    the replacements handed out beside it."""
    replacements = replacements or {}
    width, height = 760, 280
    left, right, top, bottom = 56, 12, 16, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    substances = sorted(series)
    peak = max((g for s in series.values() for g in s.values()), default=ZERO)
    ceiling = _nice_ceiling(peak)
    slot = plot_w / len(weeks)
    bar_w = (slot * 0.8) / max(len(substances), 1)
    bars, ticks, labels, legend = [], [], [], []
    for i, week in enumerate(weeks):
        labels.append(WeekLabel(x=round(left + slot * i + slot / 2, 1), label=week.strftime("%b %d")))
        for j, name in enumerate(substances):
            grams = series[name].get(week, ZERO)
            h = float(grams / ceiling) * plot_h if ceiling else 0.0
            bars.append(
                Bar(
                    x=round(left + slot * i + slot * 0.1 + bar_w * j, 1),
                    y=round(top + plot_h - h, 1),
                    width=round(bar_w, 1),
                    height=round(h, 1),
                    colour=PALETTE[j % len(PALETTE)],
                    label=f"{name}, week of {week:%Y-%m-%d}: {grams} g",
                )
            )
    for k in range(5):
        value = ceiling * k / 4
        ticks.append(Tick(y=round(top + plot_h - plot_h * k / 4, 1), label=f"{value.normalize():f}"))
    for j, name in enumerate(substances):
        legend.append({"x": left + 150 * j, "colour": PALETTE[j % len(PALETTE)], "name": name})
    table = [
        {"week": week, "grams": [series[name].get(week, ZERO) for name in substances],
         "replacements": replacements.get(week, ZERO)}
        for week in weeks
    ]
    return {
        "width": width, "height": height + 24, "left": left, "right_edge": width - right,
        "top": top, "baseline": top + plot_h, "label_y": top + plot_h + 16, "legend_y": height + 8,
        "bars": bars, "ticks": ticks, "labels": labels, "legend": legend,
        "substances": substances, "table": table, "empty": not series and not replacements,
        "replacements_total": sum(replacements.values(), ZERO),
    }


def reference_samples_to_destroy() -> list[dict[str, Any]]:
    """Reference samples still held for finished batches (rejected or recalled, or with no stock
    left in any store or on the road): each is destroyed before a witness. One query."""
    from distributions.services.reference import FINISHED_STATUSES, STOCK_KINDS

    stock_left = Balance.objects.filter(batch=OuterRef("batch"), account__kind__in=STOCK_KINDS, grams__gt=0)
    rows = (
        Balance.objects.filter(account__kind=Account.Kind.REFERENCE, grams__gt=0)
        .filter(Q(batch__status__in=list(FINISHED_STATUSES)) | ~Exists(stock_left))
        .select_related("batch").order_by("batch__code")
    )
    return [{"batch": b.batch, "grams": Decimal(b.grams).quantize(ZERO), "account_id": b.account_id} for b in rows]


def dashboard_context(request) -> dict[str, Any]:
    user = request.user
    context: dict[str, Any] = {
        "dashboard": True, "can_export": may_export(user),
        # Each report link shows only to whoever may run that export.
        "exportable": {e.identifier for e in exports_for(user)},
    }
    context["recall_notices"] = unacknowledged_notices_for(user)
    context["open_recalls"] = open_recalls(user)
    if context["open_recalls"] and user.has_perm("distributions.adjust_stock"):
        # Grams gathered at the central store go to a witnessed destruction from here.
        context["central_store_id"] = Account.objects.filter(kind=Account.Kind.CENTRAL, group=None).values_list(
            "pk", flat=True).first()
    context["may_report_adverse"] = may_report_adverse_events(user)
    if user.has_perm("distributions.view_balance"):
        context["stock"] = [
            {
                "store": row["account__group__short_name"] or Account.Kind(row["account__kind"]).label,
                "substance": row["batch__substance__name"],
                "on_hand": Decimal(row["on_hand"]).quantize(ZERO),
                "distributable": Decimal(row["distributable"] or 0).quantize(ZERO),
            }
            for row in stock_on_hand(user)
        ]
    if user.has_perm("distributions.adjust_stock"):
        context["references_due"] = reference_samples_to_destroy()
    if user.has_perm("distributions.view_manifest"):
        context["in_transit"] = manifests_in_transit(user)
    if user.has_perm("distributions.view_stockcount"):
        context["counts_due"] = stores_overdue_for_count(user)
    if user.has_perm("distributions.review_difference") or user.has_perm("distributions.view_differencereview"):
        context["unreviewed"] = unreviewed_count()
    if user.has_perm("testing_results.view_batch"):
        context["adverse"] = adverse_by_batch(timezone.now() - dt.timedelta(days=ADVERSE_DAYS))
        context["adverse_days"] = ADVERSE_DAYS
        context["waiting"] = batches_waiting(user)
        context["held"] = batches_held_or_recalled(user)
    if user.has_perm("distributions.view_ledgerentry"):
        context["chart"] = weekly_chart(*weekly_handouts(user, timezone.localdate(timezone=LOCAL_TZ)))
    return context
