"""Adverse-event reports, and the holds they cause.

A coordinator (a member of their own group, or no member) or a drug checker reports that
someone was harmed after using a batch: when, a coded outcome, a severity, optionally the
member's code. A severe report (naloxone, emergency services, hospital, death, or anything
reported as severe) puts a released batch on hold in the reporting transaction, with its recall
notices; moderate reports hold it once ``moderate_count`` of them fall within ``window_days`` of
each other (``AdverseEventThreshold``, default 2 within 7 days). A release officer then reviews:
release again (the two-person rule applies) or recall.

The report locks the batch row first (``batch_hold_within`` locks it anyway), so two reports
about one batch are counted one after the other, and a distribution racing a severe report
either committed before the hold (its member is on the notice) or sees the batch on hold.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.recalls.models import AdverseEvent, AdverseEventThreshold
from members.models import Member
from members.scoping import coordinated_group_ids, is_coordinator_of
from testing_results.models import Batch
from testing_results.services import batch_hold_within

__all__ = ["adverse_event_report", "adverse_threshold", "adverse_threshold_set", "may_report_adverse_events"]

FUTURE_TOLERANCE = dt.timedelta(minutes=5)
REPORTABLE = (Batch.Status.RELEASED, Batch.Status.ON_HOLD, Batch.Status.RECALLED)


def may_report_adverse_events(user) -> bool:
    return bool(user.is_active and (coordinated_group_ids(user) or user.has_perm("testing_results.add_drugcheck")))


def adverse_threshold() -> AdverseEventThreshold:
    return AdverseEventThreshold.objects.get_or_create(pk=1)[0]


def adverse_event_report(
    *, batch: Batch, occurred_at: dt.datetime, outcome: str, severity: str, by, member: Member | None = None
) -> AdverseEvent:
    """Record one report; hold the batch when it is severe or reaches the moderate threshold.
    Refusals: ``not_permitted``, ``outcome_invalid``, ``severity_invalid``, ``severity_mismatch``,
    ``occurred_in_future``, ``occurred_before_receipt``, ``member_not_in_your_group``,
    ``batch_never_released``."""
    if not may_report_adverse_events(by):
        raise ServiceError("not_permitted", "Only a coordinator or a drug checker can report an adverse event.")
    if outcome not in AdverseEvent.Outcome.values:
        raise ServiceError("outcome_invalid", "Choose an outcome from the list.")
    if severity not in AdverseEvent.Severity.values:
        raise ServiceError("severity_invalid", "Choose a severity from the list.")
    if outcome in AdverseEvent.SEVERE_OUTCOMES and severity != AdverseEvent.Severity.SEVERE:
        label = AdverseEvent.Outcome(outcome).label.lower()
        raise ServiceError("severity_mismatch", f"{label.capitalize()} is always a severe outcome.")
    if not isinstance(occurred_at, dt.datetime):
        raise ServiceError("occurred_invalid", "Give the date and time it happened.")
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    now = timezone.now()
    if occurred_at > now + FUTURE_TOLERANCE:
        raise ServiceError("occurred_in_future", "The time given is in the future.")
    if member is not None and not is_coordinator_of(by, member.group_id):
        raise ServiceError("member_not_in_your_group", "Only a member of your own group can be named in a report.")

    with transaction.atomic(durable=True):
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status not in REPORTABLE:
            raise ServiceError("batch_never_released", f"Batch {locked.code} was never released; nobody received it.")
        if timezone.localtime(occurred_at).date() < locked.received_on:
            raise ServiceError("occurred_before_receipt", f"Batch {locked.code} had not arrived yet on that date.")
        event = AdverseEvent.objects.create(
            batch=locked, occurred_at=occurred_at, outcome=outcome, severity=severity, member=member,
            reported_by=by, reported_at=now,
        )
        hold_reason = _hold_reason(event)
        if hold_reason and batch_hold_within(batch=locked, by=by, reason=hold_reason):
            AdverseEvent.objects.filter(pk=event.pk).update(held_batch=True)
            event.held_batch = True
        audit_log(
            action="adverse_event.reported", actor=by, target=event,
            new={"batch": locked.pk, "occurred_at": occurred_at, "outcome": outcome, "severity": severity,
                 "member": member.pk if member else None, "held_batch": event.held_batch},
        )
    batch.status = locked.status
    return event


def _hold_reason(event: AdverseEvent) -> str:
    outcome = event.get_outcome_display().lower()
    if event.severity == AdverseEvent.Severity.SEVERE:
        return f"Put on hold automatically: a severe adverse event was reported ({outcome})."
    if event.severity != AdverseEvent.Severity.MODERATE:
        return ""
    rule = adverse_threshold()
    window = dt.timedelta(days=rule.window_days)
    count = AdverseEvent.objects.filter(
        batch_id=event.batch_id, severity=AdverseEvent.Severity.MODERATE,
        occurred_at__gte=event.occurred_at - window, occurred_at__lte=event.occurred_at + window,
    ).count()
    if count >= rule.moderate_count:
        return (
            f"Put on hold automatically: {count} moderate adverse events were reported within "
            f"{rule.window_days} days (the programme's threshold is {rule.moderate_count})."
        )
    return ""


def adverse_threshold_set(*, moderate_count: int, window_days: int, by) -> AdverseEventThreshold:
    """A programme admin sets how many moderate reports within how many days hold a batch."""
    if not (by.is_active and by.has_perm("recalls.change_adverseeventthreshold")):
        raise ServiceError("not_permitted", "Only a programme admin can change the adverse-event threshold.")
    for value, name in ((moderate_count, "number of reports"), (window_days, "number of days")):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 365:
            raise ServiceError("threshold_invalid", f"The {name} must be a whole number from 1 to 365.")
    with transaction.atomic(durable=True):
        rule = AdverseEventThreshold.objects.select_for_update().get_or_create(pk=1)[0]
        old = {"moderate_count": rule.moderate_count, "window_days": rule.window_days}
        rule.moderate_count, rule.window_days = moderate_count, window_days
        rule.updated_by, rule.updated_at = by, timezone.now()
        rule.save()
        audit_log(action="adverse_event.threshold_changed", actor=by, target=rule, old=old,
                  new={"moderate_count": moderate_count, "window_days": window_days})
    return rule
