"""Staff sign-ins, failed sign-ins and sign-outs go to the audit trail."""

from __future__ import annotations

import time

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from compassionclub.audit.services import audit_log
from compassionclub.security.client_ip import client_ip_address
from compassionclub.security.middleware import SESSION_STARTED_KEY


@receiver(user_logged_in, dispatch_uid="security_user_logged_in")
def on_user_logged_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        # Django has already given the session a new key; the absolute lifetime starts now.
        request.session[SESSION_STARTED_KEY] = int(time.time())
    audit_log(action="auth.login", actor=user, target=user, ip_address=client_ip_address(request))


@receiver(user_login_failed, dispatch_uid="security_user_login_failed")
def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only the username that was tried: Django has already masked the password, and nothing
    # else from the form is kept.
    username = str((credentials or {}).get("username", ""))[:150]
    audit_log(
        action="auth.login_failed",
        new={"username": username},
        target_repr=username,
        ip_address=client_ip_address(request),
    )


@receiver(user_logged_out, dispatch_uid="security_user_logged_out")
def on_user_logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    audit_log(action="auth.logout", actor=user, target=user, ip_address=client_ip_address(request))
