"""Security middleware: no caching, the absolute session lifetime, two-factor enforcement,
the staff address for the audit trail and the audit of permission refusals.

Order in ``settings.MIDDLEWARE``: ``NoStoreMiddleware`` right after WhiteNoise (so static files
stay cacheable and everything dynamic is not); the others after django-otp's middleware, in
the order they are defined here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from compassionclub.audit.context import current_ip_address
from compassionclub.audit.services import audit_log
from compassionclub.security.client_ip import client_ip_address

SESSION_STARTED_KEY = "_auth_started_at"


def admin_prefix() -> str:
    return reverse("admin:index")


def is_admin_path(path: str) -> bool:
    return path.startswith(admin_prefix())


class NoStoreMiddleware:
    """Nothing dynamic may be kept by a browser or a proxy: admin pages show member codes and
    stock, and the status page a member's eligibility."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response


class SessionLifetimeMiddleware:
    """Ends a staff session ``SESSION_ABSOLUTE_SECONDS`` after the login that started it,
    however active it has been (the idle timeout is the session cookie's age)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            started = request.session.get(SESSION_STARTED_KEY)
            now = int(time.time())
            if not isinstance(started, int) or now - started >= settings.SESSION_ABSOLUTE_SECONDS or started > now + 60:
                audit_log(
                    action="auth.session_expired",
                    actor=user,
                    target=user,
                    new={"reason": "absolute_lifetime"},
                    ip_address=client_ip_address(request),
                )
                logout(request)
        return self.get_response(request)


class TwoFactorRequiredMiddleware:
    """With ``REQUIRE_2FA``, a staff user who has signed in with a password but not yet with
    a second factor reaches nothing in the admin but the two-factor page and logout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.REQUIRE_2FA and self._needs_second_factor(request):
            allowed = {reverse("admin:login"), reverse("admin:logout"), reverse("admin:two_factor"), reverse("admin:jsi18n")}
            if request.path not in allowed:
                target = reverse("admin:two_factor")
                if request.method == "GET":
                    target += "?" + urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(target)
        return self.get_response(request)

    @staticmethod
    def _needs_second_factor(request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not is_admin_path(request.path):
            return False
        return not user.is_verified()


class AuditContextMiddleware:
    """Gives audit records written during an admin request the staff user's address, and
    records every refusal (403) an authenticated user meets in the admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        staff_request = bool(user is not None and user.is_authenticated and is_admin_path(request.path))
        if not staff_request:
            return self.get_response(request)
        address = client_ip_address(request)
        token = current_ip_address.set(address)
        try:
            response = self.get_response(request)
            if response.status_code == 403 and request.user.is_authenticated:
                audit_log(
                    action="security.permission_denied",
                    actor=request.user,
                    new={"method": request.method, "path": request.path[:200]},
                    ip_address=address,
                )
            return response
        finally:
            current_ip_address.reset(token)
