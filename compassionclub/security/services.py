"""Writes for staff accounts' security: ending sessions, two-factor devices, backup codes.

Each write is one transaction with its audit record; secrets (TOTP keys, backup codes) never
reach the audit trail.
"""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError

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
