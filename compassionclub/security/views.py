"""Two-factor sign-in pages inside the admin's look: enrol an authenticator (QR code as inline
SVG, confirmed with a code), verify a session with a code or a backup code, and replace the
backup codes. They are reachable by staff who have given their password but not yet a second
factor, so they are not wrapped in ``AdminSite.admin_view`` (which requires the second factor).
"""

from __future__ import annotations

from base64 import b32encode

import django_otp
import segno
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from compassionclub.security import services

# New backup codes wait here for the one GET that shows them: the page after a POST is a
# redirect, so reloading it never makes a new set (and never shows the codes again).
SESSION_NEW_CODES = "two_factor_new_backup_codes"
# The user id whose enrolment code this session redeemed: the QR code is shown only after.
SESSION_ENROLMENT_REDEEMED = "two_factor_enrolment_code_redeemed"


def _show_codes_once(request: HttpRequest, codes: list[str]) -> HttpResponse:
    request.session[SESSION_NEW_CODES] = list(codes)
    return HttpResponseRedirect(f"{request.path}?{urlencode({REDIRECT_FIELD_NAME: _next_url(request)})}")


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    admin_index = reverse("admin:index")
    if candidate.startswith(admin_index) and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return admin_index


@csrf_protect
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest, site) -> HttpResponse:
    user = request.user
    if not (user.is_active and user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    verified = user.is_verified()
    context = {
        **site.each_context(request),
        "title": "Two-factor sign-in",
        "next": _next_url(request),
        "verified": verified,
    }
    if not verified:
        context.update(available_apps=[], is_nav_sidebar_enabled=False)
    if request.method == "GET" and SESSION_NEW_CODES in request.session:
        context.update(codes=request.session.pop(SESSION_NEW_CODES), available_apps=site.get_app_list(request))
        return _render(request, context, "backup_codes.html")
    enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if not enrolled:
        return _enrol(request, context, site)
    if not verified:
        return _verify(request, context)
    return _status(request, context)


def _render(request: HttpRequest, context: dict, template: str, status: int = 200) -> TemplateResponse:
    return TemplateResponse(request, f"security/{template}", context, status=status)


def _enrolment_code(request: HttpRequest, context: dict) -> HttpResponse:
    """Step one of enrolment in production: the one-time code a programme admin handed over.
    Nothing about the authenticator (its key, its QR code) is shown before it."""
    error = ""
    if request.method == "POST":
        try:
            services.enrolment_code_redeem(user=request.user, code=request.POST.get("enrolment_code", ""))
        except ServiceError as exc:
            error = exc.message_text
        else:
            request.session[SESSION_ENROLMENT_REDEEMED] = request.user.pk
            return HttpResponseRedirect(f"{request.path}?{urlencode({REDIRECT_FIELD_NAME: context['next']})}")
    context["error"] = error
    return _render(request, context, "enrolment_code.html", status=400 if error else 200)


def _enrol(request: HttpRequest, context: dict, site) -> HttpResponse:
    user = request.user
    error = ""
    if settings.TWO_FACTOR_ENROLMENT_CODE_REQUIRED and request.session.get(SESSION_ENROLMENT_REDEEMED) != user.pk:
        return _enrolment_code(request, context)
    if request.method == "POST":
        try:
            device, codes = services.totp_confirm(user=user, token=request.POST.get("token", ""))
        except ServiceError as exc:
            error = exc.message_text
        else:
            django_otp.login(request, device)
            request.session.cycle_key()
            request.session.pop(SESSION_ENROLMENT_REDEEMED, None)
            return _show_codes_once(request, codes)
    device = services.totp_device_pending(user=user)
    secret = b32encode(device.bin_key).decode()
    qr = segno.make(device.config_url, error="m")
    context.update(
        qr_svg=qr.svg_inline(scale=5, light="#fff", dark="#000"),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        error=error,
    )
    return _render(request, context, "enrol.html", status=400 if error else 200)


def _verify(request: HttpRequest, context: dict) -> HttpResponse:
    error = ""
    if request.method == "POST":
        token = request.POST.get("token", "").strip().replace(" ", "").lower()
        device = None
        if token and len(token) <= 16:
            with transaction.atomic():
                device = django_otp.match_token(request.user, token)
        if device is not None:
            django_otp.login(request, device)
            request.session.cycle_key()
            audit_log(action="auth.two_factor_verified", actor=request.user, target=request.user,
                      new={"method": "backup_code" if device.__class__.__name__ == "StaticDevice" else "totp"})
            return HttpResponseRedirect(context["next"])
        audit_log(action="auth.two_factor_failed", actor=request.user, target=request.user)
        error = "That code did not work. Enter the current code from your authenticator app, or one of your backup codes."
    context["error"] = error
    return _render(request, context, "verify.html", status=400 if error else 200)


def _status(request: HttpRequest, context: dict) -> HttpResponse:
    if request.method == "POST" and request.POST.get("action") == "regenerate":
        return _show_codes_once(request, services.backup_codes_regenerate(user=request.user))
    context["backup_codes_left"] = StaticToken.objects.filter(device__user=request.user).count()
    return _render(request, context, "status.html")
