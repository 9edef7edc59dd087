"""May this member pick up, and how much of each substance is left?

``check_eligibility`` is computed from the records at the moment it is asked; nothing depends
on a scheduled job (membership systems that rely on cron leave expired members active). It
runs a constant number of queries whatever the member's history: the member's group (unless
already loaded) and one statement (``eligibility_facts``) that reads the substances, the
policies that could apply, the member's overrides and the member's distributions summed in SQL
per substance and window length (the rows never travel: a member with hundreds of entries in
the window costs what one with none does). The rule itself is ``eligibility_from``, a pure function of those facts, so
``distribution_record`` can read the same facts under its locks and decide by the same rule.

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
from typing import NamedTuple

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from compassionclub.quantities import to_grams
from distributions.models import AllowanceOverride, AllowancePolicy, LedgerEntry
from members.models import Member
from testing_results.models import Batch, Substance

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


class GroupState(NamedTuple):
    pk: int
    is_active: bool


class MemberState(NamedTuple):
    """What the rule reads of a member and its group, for a caller that read those columns
    itself (the distribution's locked read) rather than load a model instance."""

    pk: int
    group_id: int
    status: str
    renewal_due: dt.date
    consent_version: str
    consent_given_at: dt.datetime | None
    age_attested: bool
    group: GroupState


def membership_reasons(member: Member | MemberState, at: dt.datetime) -> list[Reason]:
    """Every reason the member may not pick up at ``at``, in plain words."""
    reasons: list[Reason] = []
    if member.status != Member.Status.ACTIVE:
        if member.status == Member.Status.SUSPENDED:
            message = _("The membership is suspended. Talk to a coordinator of your group.")
        else:
            message = _("The membership has been withdrawn.")
        reasons.append(Reason("member_not_active", message))
    # Judged on the local date. It is never more than a day from the UTC date, so a renewal due
    # after the UTC date is not overdue in any time zone, and the local date (the active time
    # zone, a context-local lookup) is only worked out for one due on or before it.
    if member.renewal_due <= at.astimezone(dt.UTC).date() and member.renewal_due < timezone.localtime(at).date():
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


class PolicyFact(NamedTuple):
    substance_id: int
    group_id: int | None
    max_grams: Decimal
    window_days: int


class OverrideFact(NamedTuple):
    id: int
    substance_id: int
    max_grams: Decimal
    valid_from: dt.datetime
    valid_until: dt.datetime


class FactRow(NamedTuple):
    """A row of the facts statement. Every row is tagged; which columns it fills depends on the
    tag: ``s`` (a substance: ``days`` is its rank by name), ``p`` (a policy: ``ref`` is its
    group), ``o`` (an override: ``ref`` is its id, ``first``/``second`` its validity) and ``w``
    (the member's unreversed distributions of a substance inside a window of ``days`` days
    ending at a moment: ``ref`` is the moment, 0 for ``since`` and 1 for ``until``; ``grams``
    their sum, ``first`` the oldest's time, ``amount`` the grams handed out at that time).
    Moments are ISO text in UTC."""

    tag: str
    substance_id: int | None
    ref: int | None
    grams: Decimal | float | int | None
    days: int | None
    first: str | None
    second: str | None
    name: str | None
    amount: Decimal | float | int | None


class WindowFact(NamedTuple):
    """The member's unreversed distributions of one substance in one window: their grams,
    when the oldest was handed out and how many grams were handed out at that moment."""

    used_grams: Decimal
    oldest_at: dt.datetime
    oldest_grams: Decimal


@dataclass(frozen=True)
class EligibilityFacts:
    """Everything the rule needs besides the member, at ``since`` and at ``until``: the
    substances (in name order), the programme's policies and the member's group's, the member's
    overrides valid at some point between the two, and the member's distributions summed per
    substance for every window length a policy could set, ending at either moment
    (``windows``, keyed by substance, days and moment: 0 for ``since``, 1 for ``until``; a
    window with nothing in it has no key)."""

    since: dt.datetime
    until: dt.datetime
    substances: list[tuple[int, str]]
    policies: list[PolicyFact]
    overrides: list[OverrideFact]
    windows: dict[tuple[int, int, int], WindowFact]


def tightens(grams: Decimal, window_days: int, *, base_grams: Decimal, base_days: int) -> bool:
    """A group may only tighten the programme's allowance: no more grams and no shorter window.
    ``allowance_policy_set`` refuses a group policy that does not; eligibility ignores one that
    no longer does (the programme was tightened past it later)."""
    return grams <= base_grams and window_days >= base_days


def _policy_for(substance_id: int, group_id: int, policies: list[PolicyFact]) -> tuple[Decimal, int, str]:
    programme = next((p for p in policies if p.substance_id == substance_id and p.group_id is None), None)
    base_grams = programme.max_grams if programme else DEFAULT_MAX_GRAMS
    base_days = programme.window_days if programme else DEFAULT_WINDOW_DAYS
    group = next((p for p in policies if p.substance_id == substance_id and p.group_id == group_id), None)
    if group is not None and tightens(group.max_grams, group.window_days, base_grams=base_grams, base_days=base_days):
        return group.max_grams, group.window_days, Source.GROUP
    return base_grams, base_days, Source.PROGRAMME


def _utc(at: dt.datetime | None) -> dt.datetime:
    at = at or timezone.now()
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    # Window arithmetic in UTC: days of 24 real hours, even across a daylight-saving change
    # (adding days to a zoned datetime in Python moves the wall clock instead).
    return at.astimezone(dt.UTC)


# Reading the facts ---------------------------------------------------------------------------

def _moment(value) -> dt.datetime:
    # The facts statement reads moments as ISO text in UTC.
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _facts_sql(vendor: str, one_substance: bool) -> str:
    q = connection.ops.quote_name
    substance, policy, override, entry, batch = (
        q(m._meta.db_table) for m in (Substance, AllowancePolicy, AllowanceOverride, LedgerEntry, Batch)
    )
    if vendor == "postgresql":
        def null(sql_type: str) -> str:
            return f"CAST(NULL AS {sql_type})"

        def moment(param: str) -> str:
            return f"CAST({param} AS timestamptz)"

        def days_before(at: str, days: str, *, exact: bool = True) -> str:
            return f"{at} - make_interval(days => {days})"

        # Moments as ISO text in UTC, parsed by ``datetime.fromisoformat``: a tenth of the cost
        # of the driver's timestamp parsing.
        def text(column: str) -> str:
            return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    else:
        def null(sql_type: str) -> str:
            return "NULL"

        def moment(param: str) -> str:
            return param

        # SQLite stores moments as ISO text in UTC, and ``datetime()`` drops the fraction of a
        # second: whole days back, then (where it counts) the same fraction put back.
        def days_before(at: str, days: str, *, exact: bool = True) -> str:
            bound = f"datetime({at}, '-' || ({days}) || ' days')"
            return f"{bound} || substr({at}, 20)" if exact else bound

        def text(column: str) -> str:
            return column

    # With ``one_substance``, every fact is about one substance only (a parameter of its own at
    # each place, which the planner treats as a plain value).
    def only(column: str, word: str = "AND") -> str:
        return f" {word} {column} = %s" if one_substance else ""

    # The moments asked about (``until`` only when later than ``since``), every window length a
    # policy of the programme or of the member's group could set (and the default), and the
    # member's unreversed distributions inside the longest of them; then each distribution in
    # each window it falls in, ranked by time so the oldest moment's grams can be summed too.
    ctes = (
        f"moments AS (SELECT 0 AS k, {moment('%s')} AS at UNION ALL "  # noqa: S608
        f"SELECT 1, {moment('%s')} WHERE {moment('%s')} > {moment('%s')}), "
        f"windows AS (SELECT p.window_days AS days FROM {policy} p WHERE (p.group_id IS NULL OR p.group_id = %s)"
        f"{only('p.substance_id')} UNION SELECT CAST(%s AS integer)), "
        f"d AS (SELECT t.substance_id, e.occurred_at, e.grams FROM {entry} e INNER JOIN {batch} t ON t.id = e.batch_id "
        f"WHERE e.member_id = %s AND e.kind = 'distribution' AND e.occurred_at <= {moment('%s')} "
        f"AND e.occurred_at > {days_before(moment('%s'), '(SELECT MAX(days) FROM windows)', exact=False)}"
        f"{only('t.substance_id')} AND NOT EXISTS (SELECT 1 FROM {entry} r WHERE r.reverses_id = e.id)), "
        f"ranked AS (SELECT d.substance_id, w.days, m.k, d.occurred_at, d.grams, "
        f"RANK() OVER (PARTITION BY d.substance_id, w.days, m.k ORDER BY d.occurred_at) AS r "
        f"FROM d CROSS JOIN windows w INNER JOIN moments m "
        f"ON d.occurred_at <= m.at AND d.occurred_at > {days_before('m.at', 'w.days')})"
    )
    # One row per fact, tagged: s(ubstance), p(olicy), o(verride), w(indow), in the columns of
    # ``FactRow``.
    return (
        f"WITH {ctes} "  # noqa: S608
        f"SELECT 's', s.id, {null('integer')}, {null('numeric')}, ROW_NUMBER() OVER (ORDER BY s.name, s.id), "
        f"{null('text')}, {null('text')}, s.name, {null('numeric')} FROM {substance} s{only('s.id', 'WHERE')} "
        f"UNION ALL SELECT 'p', p.substance_id, p.group_id, p.max_grams, p.window_days, NULL, NULL, NULL, NULL "
        f"FROM {policy} p WHERE (p.group_id IS NULL OR p.group_id = %s){only('p.substance_id')} "
        f"UNION ALL SELECT 'o', o.substance_id, o.id, o.max_grams, NULL, {text('o.valid_from')}, {text('o.valid_until')}, "
        f"NULL, NULL FROM {override} o WHERE o.member_id = %s AND o.valid_from <= {moment('%s')} "
        f"AND o.valid_until > {moment('%s')}{only('o.substance_id')} "
        f"UNION ALL SELECT 'w', substance_id, k, SUM(grams), days, {text('MIN(occurred_at)')}, NULL, NULL, "
        f"SUM(grams) FILTER (WHERE r = 1) FROM ranked GROUP BY substance_id, days, k"
    )


_FACTS_SQL: dict[tuple[str, bool], str] = {}


def facts_sql(*, one_substance: bool = False, vendor: str | None = None) -> str:
    """The facts statement's text for ``vendor`` (default: the default connection's;
    ``facts_statement`` gives its parameters); with ``one_substance``, the variant about one
    substance."""
    key = (vendor or connection.vendor, one_substance)
    sql = _FACTS_SQL.get(key)
    if sql is None:
        sql = _FACTS_SQL[key] = _facts_sql(*key)
    return sql


def facts_statement(
    *, member_id: int, group_id: int, since: dt.datetime, until: dt.datetime | None = None, substance_id: int | None = None,
    db=None,
) -> tuple[str, list, dt.datetime, dt.datetime]:
    """The SQL and parameters that read the facts at ``since`` and at ``until`` (default
    ``since``), with both moments in UTC; ``facts_from_rows`` reads its rows. The statement
    starts with ``WITH`` and every row's first column is a one-letter tag, so a caller may put
    common table expressions of its own first and add rows of its own to the result.

    With ``substance_id``, the facts are those of that substance only: what a distribution of
    one batch needs, and the rule then gives the allowance of that substance alone. ``db`` is the
    connection's wrapper (default: the default connection)."""
    since = _utc(since)
    until = _utc(until) if until is not None else since
    db = db or connection
    sql = facts_sql(one_substance=substance_id is not None, vendor=db.vendor)
    adapt = db.ops.adapt_datetimefield_value
    s, u = adapt(since), adapt(until)
    one = () if substance_id is None else (substance_id,)
    params = [
        s, u, u, s,  # moments
        group_id, *one, DEFAULT_WINDOW_DAYS,  # windows
        member_id, u, s, *one,  # d
        *one,  # substances
        group_id, *one,  # policies
        member_id, u, s, *one,  # overrides
    ]
    return sql, params, since, until


def facts_from_rows(rows, since: dt.datetime, until: dt.datetime) -> EligibilityFacts:
    ranked: list[tuple[int, int, str]] = []
    policies: list[PolicyFact] = []
    overrides: list[OverrideFact] = []
    windows: dict[tuple[int, int, int], WindowFact] = {}
    for row in map(FactRow._make, rows):
        if row.tag == "s":
            ranked.append((row.days, row.substance_id, row.name))
        elif row.tag == "p":
            policies.append(PolicyFact(row.substance_id, row.ref, to_grams(row.grams), row.days))
        elif row.tag == "o":
            overrides.append(OverrideFact(row.ref, row.substance_id, to_grams(row.grams), _moment(row.first), _moment(row.second)))
        elif row.tag == "w":
            windows[(row.substance_id, row.days, row.ref)] = WindowFact(
                to_grams(row.grams), _moment(row.first), to_grams(row.amount)
            )
    ranked.sort()
    return EligibilityFacts(
        since=since,
        until=until,
        substances=[(substance_id, name) for _rank, substance_id, name in ranked],
        policies=policies,
        overrides=overrides,
        windows=windows,
    )


def eligibility_facts(*, member_id: int, group_id: int, since: dt.datetime, until: dt.datetime | None = None) -> EligibilityFacts:
    """The facts at ``since`` and at ``until`` (default ``since``), in one statement. Inside a transaction holding the member's lock, the member's distributions it
    reads cannot change until the transaction ends."""
    sql, params, since, until = facts_statement(member_id=member_id, group_id=group_id, since=since, until=until)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return facts_from_rows(cursor.fetchall(), since, until)


# The rule ------------------------------------------------------------------------------------


def eligibility_from(member: Member | MemberState, facts: EligibilityFacts, at: dt.datetime | None = None) -> Eligibility:
    """The eligibility of ``member`` at ``at``, from facts read for that moment (``since`` or
    ``until`` of the facts). Pure: no query (``member.group`` must be loaded)."""
    at = _utc(at)
    if at == facts.since:
        moment = 0
    elif at == facts.until:
        moment = 1
    else:
        raise ValueError(f"The facts are for {facts.since} and {facts.until}, not {at}.")
    reasons = membership_reasons(member, at)

    limits: dict[int, tuple[Decimal, int, str]] = {}
    for substance_id, _name in facts.substances:
        grams, days, source = _policy_for(substance_id, member.group_id, facts.policies)
        active = [o for o in facts.overrides if o.substance_id == substance_id and o.valid_from <= at < o.valid_until]
        if active:
            # The newest override applies if several do.
            override = max(active, key=lambda o: (o.valid_from, o.id))
            grams, source = override.max_grams, Source.OVERRIDE
        limits[substance_id] = (grams, days, source)

    allowances: dict[int, SubstanceAllowance] = {}
    for substance_id, name in facts.substances:
        limit, days, source = limits[substance_id]
        window = facts.windows.get((substance_id, days, moment))
        used, next_at, next_grams = ZERO, None, ZERO
        if window is not None:
            used = window.used_grams
            next_at = window.oldest_at + dt.timedelta(days=days)
            next_grams = window.oldest_grams
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


def check_eligibility(member: Member, at: dt.datetime | None = None) -> Eligibility:
    at = _utc(at)
    facts = eligibility_facts(member_id=member.pk, group_id=member.group_id, since=at)
    return eligibility_from(member, facts, at)
