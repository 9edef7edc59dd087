"""Deploy checks: no demo or default account may exist in production mode.

``manage.py check --deploy`` fails (an Error) when a user named like a demo account exists, or
a superuser has no usable password or one of the well-known default passwords. A database
without tables has no accounts, so it passes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

DEFAULT_PASSWORDS = ("admin", "administrator", "password", "changeme", "change-me", "letmein", "root", "demo")


def demo_usernames() -> set[str]:
    from compassionclub.demo import DEMO_USERS

    return {username for username, _role, _groups in DEMO_USERS}


def known_passwords() -> tuple[str, ...]:
    from compassionclub.demo import DEMO_PASSWORD

    return (DEMO_PASSWORD, *DEFAULT_PASSWORDS)


@register(Tags.security, deploy=True)
def check_no_demo_or_default_accounts(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEMO_ACCOUNTS_ALLOWED:
        return []
    from django.contrib.auth import get_user_model

    User = get_user_model()
    errors: list[Error] = []
    try:
        demo = sorted(User.objects.filter(username__in=demo_usernames()).values_list("username", flat=True))
        demo += sorted(
            User.objects.filter(username__startswith="demo_").exclude(username__in=demo).values_list("username", flat=True)
        )
        superusers = list(User.objects.filter(is_superuser=True, is_active=True))
    except DatabaseError:
        return []
    if demo:
        errors.append(
            Error(
                f"Demo accounts exist in production mode: {', '.join(demo)}.",
                hint="Delete them (manage.py shell) or deactivate them; seed_demo is for development only.",
                id="security.E001",
            )
        )
    for user in superusers:
        if not user.has_usable_password() or any(check_password(p, user.password) for p in (user.get_username(), *known_passwords())):
            errors.append(
                Error(
                    f"Superuser {user.get_username()!r} has no usable password or a default one.",
                    hint="Set a strong password with manage.py changepassword.",
                    id="security.E002",
                )
            )
    return errors
