"""Writes for staff accounts' security: ending sessions, two-factor devices, backup codes.

Each write is one transaction with its audit record; secrets (TOTP keys, backup codes) never
reach the audit trail.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from compassionclub.security.models import EnrolmentCode

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


def _require_user_admin(by) -> None:
    if not (by.is_active and (by.is_superuser or by.has_perm("auth.change_user"))):
        raise ServiceError("not_user_admin", "Only a programme admin can do this for another staff user.")


def user_sessions_end(*, user, by) -> int:
    """Delete every live session of ``user``; returns how many were ended.

    Sessions live in the database (the default engine), and a staff programme has few live
    sessions at a time, so decoding each is cheap.
    """
    if by.pk != user.pk:
        _require_user_admin(by)
    with transaction.atomic(durable=True):
        ended = []
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
                ended.append(session.session_key)
        Session.objects.filter(session_key__in=ended).delete()
        audit_log(action="user.sessions_ended", actor=by, target=user, new={"sessions_ended": len(ended)})
    return len(ended)


def two_factor_reset(*, user, by) -> None:
    """Remove a staff user's authenticator and backup codes (a lost phone) and end their
    sessions; at their next sign-in they enrol again."""
    _require_user_admin(by)
    if by.pk == user.pk:
        raise ServiceError("cannot_reset_own_two_factor", "Ask another programme admin to reset your two-factor sign-in.")
    with transaction.atomic(durable=True):
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        removed = TOTPDevice.objects.filter(user=user).count() + StaticDevice.objects.filter(user=user).count()
        StaticToken.objects.filter(device__user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        TOTPDevice.objects.filter(user=user).delete()
        audit_log(action="user.two_factor_reset", actor=by, target=user, new={"devices_removed": removed})
    user_sessions_end(user=user, by=by)


def totp_device_pending(*, user) -> TOTPDevice:
    """The unconfirmed authenticator being enrolled (created once, so reloading the page
    shows the same QR code)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_confirm(*, user, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with a code from it; returns the device and a fresh
    set of backup codes (shown once)."""
    token = (token or "").strip().replace(" ", "")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ServiceError("already_enrolled", "An authenticator is already set up for this account.")
    if not token.isdigit():
        raise ServiceError("bad_token", "Enter the 6-digit code your authenticator app shows.")
    with transaction.atomic(durable=True):
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None or not device.verify_token(token):
            raise ServiceError("bad_token", "That code did not match. Check the time on your phone and try the next code.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _replace_backup_codes(user)
        audit_log(action="user.two_factor_enrolled", actor=user, target=user, new={"codes_issued": len(codes)})
    return device, codes


def backup_codes_regenerate(*, user) -> list[str]:
    """Replace the user's backup codes; the old ones stop working at once."""
    with transaction.atomic(durable=True):
        codes = _replace_backup_codes(user)
        audit_log(action="user.backup_codes_regenerated", actor=user, target=user, new={"codes_issued": len(codes)})
    return codes


def _replace_backup_codes(user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    # 10 hex characters (40 bits) each: single-use, and guesses are throttled by django-otp.
    codes = [secrets.token_hex(5) for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


# No 0/O, 1/I/L: read aloud or copied from paper without mistakes. 12 symbols of 31: 59 bits.
ENROLMENT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _normalise_enrolment_code(code: str) -> str:
    return "".join(c for c in (code or "").upper() if c.isalnum())[:32]


def enrolment_code_issue(*, user, by) -> str:
    """A new one-time enrolment code for ``user`` (replacing any earlier one), returned once
    to be handed over in person; only its hash is stored. ``by`` is a programme admin, or None
    for ``manage.py enrolment_code`` run by whoever operates the server."""
    if by is not None:
        _require_user_admin(by)
        if by.pk == user.pk:
            raise ServiceError("cannot_issue_own_code", "Ask another programme admin for your enrolment code.")
    raw = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(12))
    now = timezone.now()
    expires_at = now + dt.timedelta(hours=settings.TWO_FACTOR_ENROLMENT_CODE_HOURS)
    with transaction.atomic(durable=True):
        EnrolmentCode.objects.update_or_create(
            user=user, defaults={"code_hash": make_password(raw), "issued_by": by, "issued_at": now, "expires_at": expires_at})
        audit_log(action="user.enrolment_code_issued", actor=by, target=user,
                  new={"expires_at": expires_at.isoformat(), "by_command": by is None})
    return "-".join(raw[i:i + 4] for i in range(0, 12, 4))


def enrolment_code_redeem(*, user, code: str) -> None:
    """Use up ``user``'s enrolment code, so that they may enrol an authenticator now. Any
    authenticator set up before (whose key someone else may have seen) is discarded."""
    with transaction.atomic(durable=True):
        row = EnrolmentCode.objects.select_for_update().filter(user=user).first()
        if row is None:
            raise ServiceError("no_enrolment_code", "This account has no enrolment code. Ask a programme admin for one.")
        if row.expires_at <= timezone.now():
            raise ServiceError("enrolment_code_expired",
                               "This enrolment code has expired. Ask a programme admin for a new one.")
        right = check_password(_normalise_enrolment_code(code), row.code_hash)
        if right:
            row.delete()
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            audit_log(action="user.enrolment_code_used", actor=user, target=user)
    if not right:
        audit_log(action="user.enrolment_code_failed", actor=user, target=user)
        raise ServiceError("bad_enrolment_code", "That enrolment code is not right. Check it against the paper.")
