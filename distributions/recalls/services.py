"""Writes after a batch is held or recalled: notices, acknowledgements, members told.

Each public function is one transaction with its audit record and refuses bad input with a
``ServiceError`` code, storing nothing. ``recall_notices_issue`` is not public: it runs inside
the hold or recall (``testing_results`` sends ``batch_status_changed``), so the notices commit
with the status change or not at all.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.models import LedgerEntry
from distributions.recalls.models import MemberTold, RecallNotice, StatusAlertSeen
from distributions.selectors import batch_reach
from members.models import Member
from members.scoping import is_coordinator_of
from testing_results.models import Batch, BatchStatusChange

__all__ = ["member_told_record", "recall_notice_acknowledge", "status_alert_seen_record"]

ALERT_STATUSES = (Batch.Status.ON_HOLD, Batch.Status.RECALLED)


def recall_notices_issue(*, batch: Batch, status_change: BatchStatusChange) -> list[RecallNotice]:
    """One notice per group that holds ``batch`` in its store or whose members received it,
    for this hold or recall. Runs in the caller's transaction, after the batch row was locked
    for the status change: a distribution that saw the batch released has committed by then
    (it share-locks the batch), so its member is counted."""
    reach = batch_reach(batch)
    if not reach:
        return []
    notices = RecallNotice.objects.bulk_create(
        RecallNotice(
            batch=batch, group_id=group_id, status_change=status_change, kind=status_change.to_status,
            issued_at=status_change.changed_at, store_grams=r.store_grams, members_count=r.members,
            received_grams=r.received_grams,
        )
        for group_id, r in reach
    )
    audit_log(
        action="recall.notices_issued", actor=status_change.changed_by, target=batch,
        new={
            "status": status_change.to_status,
            "groups": [[r.group_short_name, r.store_grams, r.members, r.received_grams] for _gid, r in reach],
        },
    )
    return notices


def recall_notice_acknowledge(*, notice: RecallNotice, by) -> RecallNotice:
    """A coordinator of the notice's group confirms the group has read it. Once."""
    if not is_coordinator_of(by, notice.group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of this group can acknowledge its recall notice.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        if not RecallNotice.objects.filter(pk=notice.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=by
        ):
            raise ServiceError("already_acknowledged", "This notice has already been acknowledged.")
        audit_log(
            action="recall.notice_acknowledged", actor=by, target=notice,
            new={"batch": notice.batch_id, "group": notice.group_id, "acknowledged_at": now},
        )
    notice.acknowledged_at, notice.acknowledged_by = now, by
    return notice


def member_told_record(*, member: Member, batch: Batch, by) -> MemberTold:
    """A coordinator told the member at the desk about a held or recalled batch they received."""
    if not is_coordinator_of(by, member.group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of the member's group can record this.")
    status = Batch.objects.values_list("status", flat=True).get(pk=batch.pk)
    if status not in ALERT_STATUSES:
        raise ServiceError("batch_not_recalled", f"Batch {batch.code} is not on hold or recalled; there is nothing to tell.")
    received = LedgerEntry.objects.filter(
        kind__in=LedgerEntry.HANDED_OUT, member=member, batch=batch, reversed_by__isnull=True
    ).exists()
    if not received:
        raise ServiceError("batch_not_received", f"This member did not receive batch {batch.code}.")
    try:
        with transaction.atomic(durable=True):
            told = MemberTold.objects.create(member=member, batch=batch, told_by=by, told_at=timezone.now())
            audit_log(
                action="recall.member_told", actor=by, target=told,
                new={"batch": batch.pk, "event": told.event},
            )
    except IntegrityError:
        if MemberTold.objects.filter(member=member, batch=batch).exists():
            raise ServiceError("already_told", "This member has already been told about this batch.")
        raise
    return told


def status_alert_seen_record(*, member: Member) -> StatusAlertSeen:
    """The member saw a hold or recall alert on the status page: only who and when is kept
    (no audit record: it would name the visit, and the row itself is the record)."""
    return StatusAlertSeen.objects.create(member=member, seen_at=timezone.now())
