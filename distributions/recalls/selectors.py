"""Reads for recall notices: who sees which, what a notice says now, the recall overview.

No scoping rule of its own: which notices a user sees is ``distributions.visibility``'s
``notices_visible_to``; member codes come from ``batch_recipients`` (the entries the user may
see), so a release officer sees counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum

from distributions.models import ZERO, Account, Balance, LedgerEntry
from distributions.recalls.models import MemberTold, RecallNotice, Replacement, StatusAlertSeen
from distributions.selectors import Recipient, batch_recipients
from distributions.visibility import notices_visible_to, sees_batch_reach_everywhere
from members.codes import format_code
from members.models import Member
from members.scoping import coordinated_group_ids, is_coordinator_of
from testing_results.models import Batch, Compound, Finding
from testing_results.rules import PRESENT

Q3 = Decimal("0.001")


def unacknowledged_notices_for(user) -> list[RecallNotice]:
    """The notices a coordinator must act on: their own groups' not yet acknowledged, newest
    first. Empty for everyone else (the dashboard shows them the overview instead)."""
    ids = coordinated_group_ids(user)
    if not (user.is_active and ids):
        return []
    return list(
        RecallNotice.objects.filter(group__in=ids, acknowledged_at__isnull=True)
        .select_related("batch__substance", "group")
        .order_by("-issued_at", "group__short_name")
    )


def harmful_found(batch: Batch) -> list[str]:
    """The harmful compounds valid checks of ``batch`` found, by name."""
    return sorted(set(
        Finding.objects.filter(
            drug_check__batch=batch, drug_check__invalidated_at__isnull=True, result__in=PRESENT,
            compound__category=Compound.Category.HARMFUL,
        ).values_list("compound__name", flat=True)
    ))


def store_grams_now(batch_id: int, group_id: int) -> Decimal:
    grams = Balance.objects.filter(
        batch_id=batch_id, account__kind=Account.Kind.GROUP, account__group_id=group_id
    ).values_list("grams", flat=True).first()
    return ZERO if grams is None else Decimal(grams).quantize(Q3)


def _affected(batch_id: int, group_id: int) -> QuerySet[Member]:
    received = LedgerEntry.objects.filter(
        member=OuterRef("pk"), batch_id=batch_id, kind__in=LedgerEntry.HANDED_OUT, reversed_by__isnull=True
    )
    return Member.objects.filter(group_id=group_id).filter(Exists(received))


def told_filter(batch_id: int, since: dt.datetime) -> Q:
    """A member counts as told about ``batch_id`` from ``since`` on: told at the desk, or saw
    the alert on the status page after it was raised."""
    return Q(Exists(MemberTold.objects.filter(member=OuterRef("pk"), batch_id=batch_id))) | Q(
        Exists(StatusAlertSeen.objects.filter(member=OuterRef("pk"), seen_at__gte=since))
    )


def told_count(notice: RecallNotice) -> int:
    return _affected(notice.batch_id, notice.group_id).filter(told_filter(notice.batch_id, notice.issued_at)).count()


def what_to_tell(notice: RecallNotice) -> str:
    code = notice.batch.code
    if notice.kind == RecallNotice.Kind.RECALL:
        return (
            f"Do not use what is left of batch {code}. Bring it back to the group: it goes back to the central "
            "store and is destroyed. The grams received from it can be replaced from a released batch, without "
            "counting against the allowance."
        )
    return (
        f"Do not use what is left of batch {code} for now: it is being checked again. Keep it apart and bring it "
        "back to the group; the group will say when it is safe or if it is recalled."
    )


@dataclass(frozen=True)
class NoticeView:
    notice: RecallNotice
    found: list[str]
    reason: str
    store_grams_now: Decimal
    members_affected: int
    members_told: int
    recipients: list[Recipient]
    shows_codes: bool
    what_to_tell: str
    may_acknowledge: bool


def notice_view(notice: RecallNotice, user) -> NoticeView:
    """Everything the notice page shows ``user`` (who may see the notice)."""
    recipients = [
        replace(r, member_code=format_code(r.member_code))
        for r in batch_recipients(notice.batch, user) if r.group_short_name == notice.group.short_name
    ]
    affected = _affected(notice.batch_id, notice.group_id)
    return NoticeView(
        notice=notice,
        found=harmful_found(notice.batch),
        reason=notice.status_change.reason,
        store_grams_now=store_grams_now(notice.batch_id, notice.group_id),
        members_affected=affected.count(),
        members_told=affected.filter(told_filter(notice.batch_id, notice.issued_at)).count(),
        recipients=recipients,
        shows_codes=bool(recipients) or is_coordinator_of(user, notice.group_id),
        what_to_tell=what_to_tell(notice),
        may_acknowledge=not notice.is_acknowledged and is_coordinator_of(user, notice.group_id),
    )


@dataclass(frozen=True)
class NoticeRow:
    notice: RecallNotice
    store_grams_now: Decimal
    members_told: int


def _store_grams_of_notice() -> Subquery:
    """The notice's group's stock of the notice's batch now (NULL when it holds none)."""
    return Subquery(
        Balance.objects.filter(
            batch_id=OuterRef("batch_id"), account__kind=Account.Kind.GROUP, account__group_id=OuterRef("group_id")
        ).values("grams")[:1]
    )


def _told_of_notice() -> Subquery:
    """``told_count`` as a subquery of a notice: its group's members who received its batch
    and were told at the desk or saw the alert on the status page since it was issued."""
    batch_id, since = OuterRef(OuterRef("batch_id")), OuterRef(OuterRef("issued_at"))
    received = LedgerEntry.objects.filter(
        member=OuterRef("pk"), batch_id=batch_id, kind__in=LedgerEntry.HANDED_OUT, reversed_by__isnull=True
    )
    told = Q(Exists(MemberTold.objects.filter(member=OuterRef("pk"), batch_id=batch_id))) | Q(
        Exists(StatusAlertSeen.objects.filter(member=OuterRef("pk"), seen_at__gte=since))
    )
    members = (
        Member.objects.filter(group_id=OuterRef("group_id")).filter(Exists(received)).filter(told)
        .order_by().values("group_id").annotate(n=Count("pk")).values("n")
    )
    return Subquery(members[:1])


def batch_notices(batch: Batch, user) -> list[NoticeRow]:
    """The notices of ``batch`` the user may see, newest first, each with the group's stock
    of it now and how many of its affected members were told. One query, whatever the number
    of notices (the counts are subqueries of each notice's row)."""
    notices = (
        notices_visible_to(user).select_related("batch__substance", "group", "acknowledged_by").filter(batch=batch)
        .annotate(grams_now=_store_grams_of_notice(), told=_told_of_notice())
        .order_by("-issued_at", "group__short_name")
    )
    return [
        NoticeRow(n, ZERO if n.grams_now is None else Decimal(n.grams_now).quantize(Q3), n.told or 0) for n in notices
    ]


@dataclass(frozen=True)
class OpenRecall:
    """A recalled batch whose recall is not closed: stock still in a store (outstanding until
    it is back in the central store and destroyed) or a notice not acknowledged."""

    batch: Batch
    outstanding: list[tuple[str, Decimal]]
    unacknowledged: list[str]
    acknowledged: list[str]


def open_recalls(user) -> list[OpenRecall]:
    """Recalls not yet closed, for whoever sees reach everywhere (release officers,
    programme admins, auditors); a recall closes when every store holds zero of the batch
    and every notice is acknowledged."""
    if not sees_batch_reach_everywhere(user):
        return []
    recalled = Batch.objects.filter(status=Batch.Status.RECALLED)
    stock = {}
    for batch_id, kind, short_name, grams in (
        Balance.objects.filter(batch__in=recalled, internal=True, grams__gt=0)
        .exclude(account__kind=Account.Kind.REFERENCE)
        .order_by("batch_id", "account__kind", "account__group__short_name")
        .values_list("batch_id", "account__kind", "account__group__short_name")
        .annotate(g=Sum("grams"))
    ):
        store = {Account.Kind.CENTRAL: "Central store", Account.Kind.IN_TRANSIT: "In transit"}.get(kind, short_name)
        stock.setdefault(batch_id, []).append((store, Decimal(grams).quantize(Q3)))
    notices: dict[int, tuple[list, list]] = {}
    for batch_id, short_name, acked in (
        RecallNotice.objects.filter(batch__in=recalled)
        .order_by("batch_id", "group__short_name")
        .values_list("batch_id", "group__short_name", "acknowledged_at")
    ):
        un, ack = notices.setdefault(batch_id, ([], []))
        (ack if acked else un).append(short_name)
    rows = []
    for batch in recalled.select_related("substance").order_by("-status_changed_at", "code"):
        un, ack = notices.get(batch.pk, ([], []))
        un = sorted(set(un))
        ack = sorted(set(ack) - set(un))
        if stock.get(batch.pk) or un:
            rows.append(OpenRecall(batch, stock.get(batch.pk, []), un, ack))
    return rows


@dataclass(frozen=True)
class MemberAlert:
    """A held or recalled batch the member received (distributions not reversed)."""

    batch_id: int
    code: str
    substance: str
    status: str
    grams: Decimal
    first_at: dt.datetime
    last_at: dt.datetime
    told_at: dt.datetime | None
    seen_at: dt.datetime | None

    @property
    def is_recalled(self) -> bool:
        return self.status == Batch.Status.RECALLED

    @property
    def told(self) -> bool:
        return self.told_at is not None or self.seen_at is not None


def member_alerts(member: Member) -> list[MemberAlert]:
    """The held or recalled batches ``member`` received, with when and how many grams, and
    whether they were told (at the desk, or on the status page after the notice). One query."""
    from django.db.models import Max, Min, Subquery

    told = MemberTold.objects.filter(member=member, batch_id=OuterRef("batch_id")).values("told_at")[:1]
    notice_at = (
        RecallNotice.objects.filter(batch_id=OuterRef("batch_id"), group_id=member.group_id)
        .order_by("issued_at").values("issued_at")[:1]
    )
    seen = StatusAlertSeen.objects.filter(member=member).order_by("-seen_at").values("seen_at")[:1]
    rows = (
        LedgerEntry.objects.filter(
            kind__in=LedgerEntry.HANDED_OUT, member=member, reversed_by__isnull=True,
            batch__status__in=(Batch.Status.ON_HOLD, Batch.Status.RECALLED),
        )
        .values("batch_id", "batch__code", "batch__substance__name", "batch__status")
        .annotate(grams=Sum("grams"), first=Min("occurred_at"), last=Max("occurred_at"),
                  told_at=Subquery(told), notice_at=Subquery(notice_at), seen_at=Subquery(seen))
        .order_by("-last", "batch_id")
    )
    alerts = []
    for r in rows:
        seen_at, notice_at = _aware(r["seen_at"]), _aware(r["notice_at"])
        seen_at = seen_at if seen_at is not None and notice_at is not None and seen_at >= notice_at else None
        alerts.append(MemberAlert(
            r["batch_id"], r["batch__code"], r["batch__substance__name"], r["batch__status"],
            Decimal(r["grams"]).quantize(Q3), r["first"], r["last"], _aware(r["told_at"]), seen_at,
        ))
    return alerts


def _aware(value):
    # A subquery's datetime comes back from SQLite as a string.
    if value is None or isinstance(value, dt.datetime):
        return value
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Replaceable:
    """A distribution from a recalled batch that has not been replaced (nor reversed)."""

    entry_id: int
    batch_code: str
    substance_id: int
    grams: Decimal
    occurred_at: dt.datetime


def replaceable_distributions(member: Member, alerts: list[MemberAlert]) -> list[Replaceable]:
    """The member's distributions of the recalled batches in ``alerts`` still to be replaced.
    No query when none of the alerts is a recall."""
    recalled = [a.batch_id for a in alerts if a.is_recalled]
    if not recalled:
        return []
    rows = (
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.DISTRIBUTION, member=member, batch_id__in=recalled,
            reversed_by__isnull=True,
        )
        # Replaced, unless that replacement was undone.
        .exclude(Exists(Replacement.objects.filter(replaces=OuterRef("pk"), entry__reversed_by__isnull=True)))
        .order_by("occurred_at", "id")
        .values_list("id", "batch__code", "batch__substance_id", "grams", "occurred_at")
    )
    return [Replaceable(pk, code, substance_id, Decimal(grams).quantize(Q3), at) for pk, code, substance_id, grams, at in rows]


def adverse_counts(batch: Batch) -> dict[str, int]:
    """Reports about ``batch`` by severity, and in all (counts only, for anyone who sees the
    batch: no member is named). One query."""
    from django.db.models import Count

    from distributions.recalls.models import AdverseEvent

    rows = dict(AdverseEvent.objects.filter(batch=batch).values_list("severity").annotate(n=Count("id")).order_by())
    counts = {severity: rows.get(severity, 0) for severity in AdverseEvent.Severity.values}
    counts["total"] = sum(rows.values())
    return counts


def adverse_outcomes(batch: Batch) -> list[tuple[str, int]]:
    from django.db.models import Count

    from distributions.recalls.models import AdverseEvent

    rows = AdverseEvent.objects.filter(batch=batch).values_list("outcome").annotate(n=Count("id")).order_by("-n", "outcome")
    return [(str(AdverseEvent.Outcome(outcome).label), n) for outcome, n in rows]


def adverse_by_batch(since: dt.datetime) -> list[dict]:
    """Reports since ``since`` per batch (severe, moderate, mild, total), most first. One query."""
    from django.db.models import Count

    from distributions.recalls.models import AdverseEvent

    sev = AdverseEvent.Severity
    rows = list(
        AdverseEvent.objects.filter(occurred_at__gte=since)
        .values("batch_id", "batch__code", "batch__status")
        .annotate(
            total=Count("id"), severe=Count("id", filter=Q(severity=sev.SEVERE)),
            moderate=Count("id", filter=Q(severity=sev.MODERATE)), mild=Count("id", filter=Q(severity=sev.MILD)),
        )
        .order_by("-severe", "-total", "batch__code")
    )
    for row in rows:
        row["status_label"] = Batch.Status(row["batch__status"]).label
    return rows
