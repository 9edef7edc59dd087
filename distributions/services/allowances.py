"""Allowance policies and exceptional, two-coordinator overrides.

The programme-wide policy per substance (default 14 g per rolling 7 days) is set by programme
admins. A group's coordinators (or a programme admin) may set a stricter one for their group:
no more grams and no shorter window than the programme's. An override lifts one member's limit
for one substance for a bounded time (at most ``OVERRIDE_MAX_DAYS``); it needs two different
coordinators of the member's group (the one asking and the one approving, who confirms being
there with their own password and two-factor code) and a reason code, and both are in the
audit trail. ``check_eligibility`` applies what these write.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import django_otp
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, not_permitted
from compassionclub.quantities import parse_grams
from distributions.eligibility import DEFAULT_MAX_GRAMS, DEFAULT_WINDOW_DAYS, tightens
from distributions.models import AllowanceOverride, AllowancePolicy
from members.models import Member, MemberGroup
from members.scoping import is_coordinator_of
from testing_results.models import Substance

__all__ = ["allowance_override_grant", "allowance_policy_set"]

MAX_WINDOW_DAYS = 90
MAX_POLICY_GRAMS = Decimal("1000.000")
OVERRIDE_MAX_DAYS = 30


def allowance_policy_set(
    *, substance: Substance, max_grams, window_days: int, by, group: MemberGroup | None = None
) -> AllowancePolicy:
    """Create or change the programme's policy (``group=None``) or a group's stricter one."""
    max_grams = parse_grams(max_grams, maximum=MAX_POLICY_GRAMS)
    if not isinstance(window_days, int) or isinstance(window_days, bool) or not 1 <= window_days <= MAX_WINDOW_DAYS:
        raise ServiceError("window_invalid", f"The window must be 1 to {MAX_WINDOW_DAYS} days.")
    programme_admin = by is not None and by.is_active and by.has_perm("distributions.change_allowancepolicy")
    if group is None:
        if not programme_admin:
            raise not_permitted("Only a programme admin can change the programme-wide allowance.")
    elif not (programme_admin or is_coordinator_of(by, group.pk)):
        raise ServiceError("not_coordinator", "Only a coordinator of this group can set its allowance.")

    with transaction.atomic(durable=True):
        existing = (
            AllowancePolicy.objects.select_for_update(of=("self",))
            .filter(substance=substance, group=group)
            .order_by("pk")
            .first()
        )
        if group is not None:
            programme = AllowancePolicy.objects.filter(substance=substance, group__isnull=True).first()
            base_grams = programme.max_grams if programme else DEFAULT_MAX_GRAMS
            base_days = programme.window_days if programme else DEFAULT_WINDOW_DAYS
            if not tightens(max_grams, window_days, base_grams=base_grams, base_days=base_days):
                raise ServiceError(
                    "policy_not_stricter",
                    f"A group's allowance can only be stricter than the programme's "
                    f"({base_grams} g per {base_days} days): no more grams and no shorter window.",
                )
        old = {"max_grams": existing.max_grams, "window_days": existing.window_days} if existing else None
        if existing:
            AllowancePolicy.objects.filter(pk=existing.pk).update(max_grams=max_grams, window_days=window_days)
            existing.max_grams, existing.window_days = max_grams, window_days
            policy = existing
        else:
            policy = AllowancePolicy.objects.create(
                substance=substance, group=group, max_grams=max_grams, window_days=window_days, created_by=by
            )
        audit_log(
            action="allowance.policy_set",
            actor=by,
            target=policy,
            old=old,
            new={
                "substance": substance.name,
                "group": group.short_name if group else None,
                "max_grams": max_grams,
                "window_days": window_days,
            },
        )
    return policy


def _confirm_approver_present(
    request: HttpRequest, approver, password: str, code: str, *,
    who: str = "approving coordinator", action: str = "approving an override",
    failed_audit: str = "allowance.override_approval_failed",
) -> None:
    """The second person (an approving coordinator, a custody witness) proves they are present:
    their password, and their second factor if they have one (or must have one). The password
    goes through the login backends, so wrong ones count towards their sign-in lockout (which
    needs the request) and are in the audit trail as failed sign-ins. Raises ServiceError
    otherwise."""
    user = authenticate(request, username=approver.get_username(), password=password)
    if user is None or user.pk != approver.pk:
        raise ServiceError(
            "approver_not_confirmed",
            f"The {who}'s password was not accepted. They must type it themselves.",
        )
    if django_otp.user_has_device(approver):
        device = None
        code = code.strip().replace(" ", "").lower()
        if code and len(code) <= 16:
            with transaction.atomic():
                device = django_otp.match_token(approver, code)
        if device is None:
            audit_log(action=failed_audit, actor=request.user, target=approver, new={"why": "two_factor_code"})
            raise ServiceError(
                "approver_not_confirmed",
                f"The {who}'s two-factor code did not work. They must enter the current code.",
            )
    elif settings.REQUIRE_2FA:
        raise ServiceError(
            "approver_without_two_factor",
            f"The {who} must set up two-factor sign-in before {action}.",
        )


def allowance_override_grant(
    *,
    member: Member,
    substance: Substance,
    max_grams,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    reason: str,
    by,
    approved_by,
    approver_password: str,
    approver_code: str = "",
    request: HttpRequest,
) -> AllowanceOverride:
    """An exceptional limit for one member, asked for by ``by`` and approved by a second
    coordinator of the same group, who confirms being there with their own password (and
    two-factor code) in ``request``, the one the person asking is signed in with."""
    max_grams = parse_grams(max_grams, maximum=MAX_POLICY_GRAMS)
    if not is_coordinator_of(by, member.group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of the member's group can ask for an override.")
    if approved_by is None or approved_by.pk == by.pk or not is_coordinator_of(approved_by, member.group_id):
        raise ServiceError(
            "second_coordinator_required",
            "An override must be approved by a second, different coordinator of the member's group.",
        )
    _confirm_approver_present(request, approved_by, approver_password, approver_code)
    if reason not in AllowanceOverride.Reason.values:
        raise ServiceError("reason_invalid", "Choose the reason for the override from the list.")
    if valid_from is None or valid_until is None or timezone.is_naive(valid_from) or timezone.is_naive(valid_until):
        raise ServiceError("period_invalid", "Give the start and end of the override.")
    if valid_until <= valid_from:
        raise ServiceError("period_invalid", "The override must end after it starts.")
    if valid_until - valid_from > dt.timedelta(days=OVERRIDE_MAX_DAYS):
        raise ServiceError("period_too_long", f"An override may last at most {OVERRIDE_MAX_DAYS} days.")
    if valid_until <= timezone.now():
        raise ServiceError("period_in_past", "The override would already be over.")

    with transaction.atomic(durable=True):
        override = AllowanceOverride.objects.create(
            member=member,
            substance=substance,
            max_grams=max_grams,
            valid_from=valid_from,
            valid_until=valid_until,
            reason=reason,
            requested_by=by,
            approved_by=approved_by,
        )
        audit_log(
            action="allowance.override_granted",
            actor=by,
            target=override,
            new={
                "member": member.code,
                "substance": substance.name,
                "max_grams": max_grams,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "reason": reason,
                "approved_by": approved_by.get_username(),
            },
        )
    return override
