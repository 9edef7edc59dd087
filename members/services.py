"""Writes to members: enrolment, status changes, PIN resets and renewals.

Every function is keyword-only, runs in one durable transaction, writes its audit record in
that transaction and refuses with ``ServiceError`` (nothing stored) when it must. Only a
coordinator of the member's group may act on a member; programme admins manage groups and
staff but do not enrol or change members, so that every member record has a group coordinator
answerable for it.

``member_enrol`` returns the new ``Member``; its ``code`` is not secret (it is printed on the
card) but the PIN is only ever held as a password hash and never logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, not_permitted
from members.codes import generate_code
from members.models import ForgottenCode, Member, MemberGroup, MemberStatusChange, RetiredCode, StatusReason
from members.pins import pin_validate
from members.scoping import is_coordinator_of

__all__ = [
    "MEMBERSHIP_DAYS",
    "member_card_reissue",
    "member_enrol",
    "member_forget",
    "member_renew",
    "member_reset_pin",
    "member_set_status",
]

# A membership runs a year from enrolment or renewal; renewing re-checks age and consent.
MEMBERSHIP_DAYS = 365

# Reasons a coordinator may give for each target status. "enrolled" and "renewed" are written
# by their own services only.
STATUS_REASONS: dict[str, frozenset[str]] = {
    Member.Status.ACTIVE: frozenset({StatusReason.REINSTATED, StatusReason.OTHER}),
    Member.Status.SUSPENDED: frozenset(
        {StatusReason.SAFETY, StatusReason.DIVERSION, StatusReason.RULES, StatusReason.INACTIVE,
         StatusReason.MEMBER_REQUEST, StatusReason.OTHER}
    ),
    Member.Status.WITHDRAWN: frozenset(
        {StatusReason.MEMBER_REQUEST, StatusReason.MOVED, StatusReason.DECEASED, StatusReason.INACTIVE,
         StatusReason.SAFETY, StatusReason.DIVERSION, StatusReason.RULES, StatusReason.OTHER}
    ),
}


def _require_coordinator(by, group_id: int, perm: str | None = None) -> None:
    if by is None or not is_coordinator_of(by, group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of the member's group can do this.")
    if perm and not by.has_perm(perm):
        raise not_permitted("Your account does not have the permission for this.")


def _today() -> dt.date:
    return timezone.localdate()


def _unused_code() -> str:
    """A fresh code that no card, current, replaced or forgotten, has ever carried."""
    while True:
        code = generate_code()
        if not RetiredCode.objects.filter(code=code).exists() and not ForgottenCode.objects.filter(
                digest=forgotten_code_digest(code)).exists():
            return code


def forgotten_code_digest(code: str) -> str:
    """Keyed with a key derived from SECRET_KEY: without it, a seized card's code cannot be
    matched against the table of forgotten codes."""
    key = hmac.new(settings.SECRET_KEY.encode(), b"members:forgotten-code", hashlib.sha256).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def _refuse_forgotten(member: Member) -> None:
    if member.forgotten_at is not None:
        raise ServiceError("member_forgotten", "This member left and was forgotten; enrol them again if they return.")


def member_enrol(
    *,
    group: MemberGroup,
    pin: str,
    consent_version: str,
    by,
    age_attested: bool = True,
    enrolled_on: dt.date | None = None,
    renewal_due: dt.date | None = None,
) -> Member:
    """Enrol a member in ``group`` with a fresh random code and the PIN they chose."""
    _require_coordinator(by, group.pk, "members.add_member")
    if not group.is_active:
        raise ServiceError("group_inactive", "This group is not active; members cannot be enrolled in it.")
    if age_attested is not True:
        raise ServiceError("age_not_attested", "The member must attest being 19 or over to enrol.")
    consent_version = (consent_version or "").strip()
    if not consent_version:
        raise ServiceError("no_consent", "Record the version of the consent form the member agreed to.")
    if len(consent_version) > Member._meta.get_field("consent_version").max_length:
        raise ServiceError("consent_version_invalid", "The consent version is too long.")
    pin_validate(pin)
    today = _today()
    enrolled_on = enrolled_on or today
    if enrolled_on > today:
        raise ServiceError("enrolled_in_future", "The enrolment date cannot be in the future.")
    renewal_due = renewal_due or enrolled_on + dt.timedelta(days=MEMBERSHIP_DAYS)
    if not enrolled_on < renewal_due <= enrolled_on + dt.timedelta(days=MEMBERSHIP_DAYS + 1):
        raise ServiceError(
            "renewal_date_invalid",
            f"The renewal date must be after the enrolment date and at most {MEMBERSHIP_DAYS} days later.",
        )

    now = timezone.now()
    pin_hash = make_password(pin)
    with transaction.atomic(durable=True):
        member = None
        # 55 random bits: a clash is astronomically unlikely, but a unique code is a must.
        for _attempt in range(5):
            code = _unused_code()
            try:
                with transaction.atomic():
                    member = Member.objects.create(
                        code=code,
                        group=group,
                        status=Member.Status.ACTIVE,
                        enrolled_on=enrolled_on,
                        renewal_due=renewal_due,
                        consent_version=consent_version,
                        consent_given_at=now,
                        age_attested=True,
                        pin=pin_hash,
                        created_by=by,
                    )
                break
            except IntegrityError:
                if not Member.objects.filter(code=code).exists():
                    raise
        if member is None:  # five clashes of 55-bit codes in a row
            raise ServiceError("code_generation_failed", "Could not generate a unique member code; try again.")
        MemberStatusChange.objects.create(
            member=member,
            from_status="",
            to_status=Member.Status.ACTIVE,
            reason=StatusReason.ENROLLED,
            changed_by=by,
            changed_at=now,
        )
        audit_log(
            action="member.enrolled",
            actor=by,
            target=member,
            new={
                "group": group.short_name,
                "enrolled_on": enrolled_on,
                "renewal_due": renewal_due,
                "consent_version": consent_version,
                "age_attested": True,
            },
        )
    return member


def member_set_status(*, member: Member, status: str, reason: str, by) -> Member:
    """Suspend, reinstate or withdraw a member, with a reason code kept in the history."""
    _require_coordinator(by, member.group_id, "members.set_status")
    if status not in Member.Status.values:
        raise ServiceError("status_invalid", "Choose active, suspended or withdrawn.")
    if reason not in STATUS_REASONS[status]:
        allowed = ", ".join(sorted(StatusReason(r).label for r in STATUS_REASONS[status]))
        raise ServiceError("reason_invalid", f"Choose a reason that fits this change: {allowed}.")
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = Member.objects.select_for_update().get(pk=member.pk)
        _refuse_forgotten(locked)
        if locked.status == status:
            raise ServiceError("status_unchanged", f"The member is already {locked.get_status_display().lower()}.")
        old = locked.status
        Member.objects.filter(pk=locked.pk).update(status=status)
        MemberStatusChange.objects.create(
            member=locked, from_status=old, to_status=status, reason=reason, changed_by=by, changed_at=now
        )
        audit_log(
            action="member.status_changed",
            actor=by,
            target=locked,
            old={"status": old},
            new={"status": status, "reason": reason},
        )
    member.status = status
    return member


def member_reset_pin(*, member: Member, pin: str, by) -> None:
    """Replace a member's PIN with a new one they chose. The PIN itself is never logged."""
    _require_coordinator(by, member.group_id, "members.reset_pin")
    pin_validate(pin)
    pin_hash = make_password(pin)
    with transaction.atomic(durable=True):
        _refuse_forgotten(Member.objects.select_for_update().get(pk=member.pk))
        Member.objects.filter(pk=member.pk).update(pin=pin_hash)
        audit_log(action="member.pin_reset", actor=by, target=member, new={"pin_changed": True})
    member.pin = pin_hash


def member_renew(
    *, member: Member, by, consent_version: str | None = None, age_attested: bool = True
) -> Member:
    """Renew for another year from today (or from the current due date if renewing early).

    Renewal re-confirms the age attestation; a new ``consent_version`` records fresh consent.
    A withdrawn member cannot be renewed (enrol them again with a new card instead).
    """
    _require_coordinator(by, member.group_id, "members.change_member")
    if age_attested is not True:
        raise ServiceError("age_not_attested", "The member must attest being 19 or over to renew.")
    consent_version = (consent_version or "").strip() or None
    if consent_version and len(consent_version) > Member._meta.get_field("consent_version").max_length:
        raise ServiceError("consent_version_invalid", "The consent version is too long.")
    now = timezone.now()
    today = _today()
    with transaction.atomic(durable=True):
        locked = Member.objects.select_for_update().get(pk=member.pk)
        _refuse_forgotten(locked)
        if locked.status == Member.Status.WITHDRAWN:
            raise ServiceError("member_withdrawn", "A withdrawn membership cannot be renewed; enrol the member again.")
        # Renewing early never shortens the membership.
        new_due = max(today, locked.renewal_due) + dt.timedelta(days=MEMBERSHIP_DAYS)
        if locked.renewal_due - today > dt.timedelta(days=60):
            raise ServiceError("renewal_too_early", "Renewal opens 60 days before the membership runs out.")
        changes: dict = {"renewal_due": new_due}
        if consent_version:
            changes.update(consent_version=consent_version, consent_given_at=now)
        Member.objects.filter(pk=locked.pk).update(**changes)
        MemberStatusChange.objects.create(
            member=locked,
            from_status=locked.status,
            to_status=locked.status,
            reason=StatusReason.RENEWED,
            changed_by=by,
            changed_at=now,
        )
        audit_log(
            action="member.renewed",
            actor=by,
            target=locked,
            old={"renewal_due": locked.renewal_due, "consent_version": locked.consent_version},
            new={"renewal_due": new_due, "consent_version": consent_version or locked.consent_version},
        )
    for name, value in changes.items():
        setattr(member, name, value)
    return member


def member_card_reissue(*, member: Member, pin: str, reason: str, by) -> Member:
    """A new card for a member whose card was lost, stolen or damaged: a new code and the new
    PIN they chose. The old code is retired in the same transaction: from then on it is refused
    everywhere like a code that never existed, and never given out again. The member's record
    stays the same, so their history, allowance and recall alerts carry over."""
    _require_coordinator(by, member.group_id, "members.reset_pin")
    if reason not in RetiredCode.Reason.values:
        raise ServiceError("reason_invalid", "Choose why the card is replaced: lost, stolen or damaged.")
    pin_validate(pin)
    pin_hash = make_password(pin)
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = Member.objects.select_for_update().get(pk=member.pk)
        _refuse_forgotten(locked)
        if locked.status == Member.Status.WITHDRAWN:
            raise ServiceError("member_withdrawn", "A withdrawn membership gets no new card; enrol the member again.")
        old_code = locked.code
        RetiredCode.objects.create(code=old_code, member=locked, reason=reason, retired_at=now, retired_by=by)
        for _attempt in range(5):
            new_code = _unused_code()
            try:
                with transaction.atomic():
                    Member.objects.filter(pk=locked.pk).update(code=new_code, pin=pin_hash)
                break
            except IntegrityError:
                if not Member.objects.filter(code=new_code).exists():
                    raise
        else:  # five clashes of 55-bit codes in a row
            raise ServiceError("code_generation_failed", "Could not generate a unique member code; try again.")
        audit_log(
            action="member.card_reissued",
            actor=by,
            target=locked,
            old={"code": old_code},
            new={"code": new_code, "reason": reason, "pin_changed": True},
        )
    member.code, member.pin = new_code, pin_hash
    return member


def members_left_before(cutoff: dt.datetime) -> QuerySet[Member]:
    """Members withdrawn since before ``cutoff`` and not yet forgotten: the retention purge's due."""
    return (
        Member.objects.filter(status=Member.Status.WITHDRAWN, forgotten_at__isnull=True)
        .annotate(left_at=Max("status_history__changed_at", filter=Q(status_history__to_status=Member.Status.WITHDRAWN)))
        .filter(left_at__lt=cutoff)
    )


def member_forget(*, member: Member) -> Member:
    """Forget a member who left (run by the retention purge, ``manage.py purge``).

    The ledger, status history, recall and adverse-event records stay, pointing at the same row,
    so every chain and every total still holds; but the row gets a new random code that no card
    carries, the PIN hash and the consent are dropped, and the codes of the member's earlier
    cards are deleted. A keyed digest of each dropped code is kept so that no card is ever
    issued with it again. Nothing is left that a seized card, or a member's own memory of their
    code, can be looked up with in the members, the ledger or its exports. The audit records
    written while the member was enrolled still name the codes they held (auditors only; the
    chain forbids editing them)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = Member.objects.select_for_update().get(pk=member.pk)
        _refuse_forgotten(locked)
        if locked.status != Member.Status.WITHDRAWN:
            raise ServiceError("member_not_withdrawn", "Only a member who was withdrawn can be forgotten.")
        dropped = [locked.code, *RetiredCode.objects.filter(member=locked).values_list("code", flat=True)]
        ForgottenCode.objects.bulk_create([ForgottenCode(digest=forgotten_code_digest(c)) for c in dropped],
                                          ignore_conflicts=True)
        RetiredCode.objects.filter(member=locked).delete()
        new_code = _unused_code()
        # make_password(None): a hash no PIN matches.
        Member.objects.filter(pk=locked.pk).update(code=new_code, pin=make_password(None), consent_version="",
                                                   consent_given_at=None, forgotten_at=now)
        locked.refresh_from_db()
        audit_log(action="member.forgotten", target=locked,
                  new={"codes_dropped": len(dropped), "consent_dropped": True, "pin_dropped": True})
    return locked
