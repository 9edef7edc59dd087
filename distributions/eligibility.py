"""May this member pick up, and how much of each substance is left?

``check_eligibility`` is computed from the records at the moment it is asked; nothing depends
on a scheduled job (membership systems that rely on cron leave expired members active). It
runs a constant number of queries whatever the member's history: the member's group (unless
already loaded), the substances, the policies that could apply, the member's active overrides
and the member's distributions inside the longest window.

Rules, where the issue leaves room:

- ``eligible`` is about the membership (status, renewal, consent, age attestation, group).
  Allowance is reported per substance in ``allowances``; a member with nothing left of one
  substance may still take another, so a used-up allowance is not a reason to be ineligible.
  ``distribution_record`` refuses grams above ``remaining_grams`` with ``over_allowance``.
- The window is rolling and exact to the second: grams handed out at ``t`` count while
  ``at < t + window_days`` and free up at ``t + window_days`` exactly.
- ``renewal_due`` is a local date (``settings.TIME_ZONE``, America/Vancouver). The member may
  still pick up on that day; from local midnight after it the renewal is overdue.
- Which limit applies: an active override for the member (``valid_from <= at < valid_until``;
  the newest if several), else the group's policy when it is at least as strict as the
  programme's on both grams and window, else the programme policy, else the built-in default
  of 14 g per rolling 7 days. An override keeps the window of the policy it overrides.
- A distribution counts unless it has been reversed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from distributions.models import AllowanceOverride, AllowancePolicy, LedgerEntry
from members.models import Member
from testing_results.models import Substance

ZERO = Decimal("0.000")
DEFAULT_MAX_GRAMS = Decimal("14.000")
DEFAULT_WINDOW_DAYS = 7


class Source:
    PROGRAMME = "programme"
    GROUP = "group"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class SubstanceAllowance:
    substance_id: int
    substance_name: str
    limit_grams: Decimal
    window_days: int
    source: str
    used_grams: Decimal
    remaining_grams: Decimal
    next_frees_at: dt.datetime | None
    next_frees_grams: Decimal


@dataclass(frozen=True)
class Eligibility:
    member_id: int
    eligible: bool
    reasons: list[Reason]
    allowances: dict[int, SubstanceAllowance]
    renewal_due: dt.date
    checked_at: dt.datetime


def membership_reasons(member: Member, at: dt.datetime) -> list[Reason]:
    """Every reason the member may not pick up at ``at``, in plain words."""
    reasons: list[Reason] = []
    if member.status != Member.Status.ACTIVE:
        if member.status == Member.Status.SUSPENDED:
            message = _("The membership is suspended. Talk to a coordinator of your group.")
        else:
            message = _("The membership has been withdrawn.")
        reasons.append(Reason("member_not_active", message))
    today = timezone.localtime(at).date()
    if member.renewal_due < today:
        reasons.append(
            Reason(
                "renewal_overdue",
                _("The membership renewal was due on %(date)s. Renew with a coordinator first.")
                % {"date": member.renewal_due.isoformat()},
            )
        )
    if not member.consent_version or member.consent_given_at is None or member.consent_given_at > at:
        reasons.append(Reason("no_consent", _("No consent is recorded for this membership.")))
    if not member.age_attested:
        reasons.append(Reason("age_not_attested", _("Being 19 or over has not been attested.")))
    if not member.group.is_active:
        reasons.append(Reason("group_inactive", _("The member's group is not active in the programme.")))
    return reasons


def _policy_for(substance_id: int, group_id: int, policies: list[AllowancePolicy]) -> tuple[Decimal, int, str]:
    programme = next((p for p in policies if p.substance_id == substance_id and p.group_id is None), None)
    base_grams = programme.max_grams if programme else DEFAULT_MAX_GRAMS
    base_days = programme.window_days if programme else DEFAULT_WINDOW_DAYS
    group = next((p for p in policies if p.substance_id == substance_id and p.group_id == group_id), None)
    # A group may only tighten the programme's policy; if the programme was tightened later
    # past the group's, the programme's wins.
    if group is not None and group.max_grams <= base_grams and group.window_days >= base_days:
        return group.max_grams, group.window_days, Source.GROUP
    return base_grams, base_days, Source.PROGRAMME


def check_eligibility(member: Member, at: dt.datetime | None = None) -> Eligibility:
    at = at or timezone.now()
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    # Window arithmetic in UTC: days of 24 real hours, even across a daylight-saving change
    # (adding days to a zoned datetime in Python moves the wall clock instead).
    at = at.astimezone(dt.UTC)
    reasons = membership_reasons(member, at)

    substances = list(Substance.objects.order_by("name").values_list("id", "name"))
    policies = list(
        AllowancePolicy.objects.filter(group__isnull=True)
        | AllowancePolicy.objects.filter(group_id=member.group_id)
    )
    overrides = list(
        AllowanceOverride.objects.filter(member=member, valid_from__lte=at, valid_until__gt=at).order_by(
            "-valid_from", "-id"
        )
    )

    limits: dict[int, tuple[Decimal, int, str]] = {}
    for substance_id, _name in substances:
        grams, days, source = _policy_for(substance_id, member.group_id, policies)
        override = next((o for o in overrides if o.substance_id == substance_id), None)
        if override is not None:
            grams, source = override.max_grams, Source.OVERRIDE
        limits[substance_id] = (grams, days, source)

    longest = max((days for _g, days, _s in limits.values()), default=DEFAULT_WINDOW_DAYS)
    entries = (
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.DISTRIBUTION,
            member=member,
            occurred_at__gt=at - dt.timedelta(days=longest),
            occurred_at__lte=at,
            reversed_by__isnull=True,
        )
        .order_by("occurred_at", "id")
        .values_list("batch__substance_id", "occurred_at", "grams")
    )
    by_substance: dict[int, list[tuple[dt.datetime, Decimal]]] = {}
    for substance_id, occurred_at, grams in entries:
        by_substance.setdefault(substance_id, []).append((occurred_at, grams))

    allowances: dict[int, SubstanceAllowance] = {}
    for substance_id, name in substances:
        limit, days, source = limits[substance_id]
        start = at - dt.timedelta(days=days)
        in_window = [(t, g) for t, g in by_substance.get(substance_id, []) if t > start]
        used = sum((g for _t, g in in_window), ZERO)
        next_at = None
        next_grams = ZERO
        if in_window:
            oldest = in_window[0][0]
            next_at = oldest + dt.timedelta(days=days)
            next_grams = sum((g for t, g in in_window if t == oldest), ZERO)
        allowances[substance_id] = SubstanceAllowance(
            substance_id=substance_id,
            substance_name=name,
            limit_grams=limit,
            window_days=days,
            source=source,
            used_grams=used,
            remaining_grams=max(limit - used, ZERO),
            next_frees_at=next_at,
            next_frees_grams=next_grams,
        )

    return Eligibility(
        member_id=member.pk,
        eligible=not reasons,
        reasons=reasons,
        allowances=allowances,
        renewal_due=member.renewal_due,
        checked_at=at,
    )
