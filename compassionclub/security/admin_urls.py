"""The security pages inside the admin: ``admin:two_factor``."""

from __future__ import annotations

from django.urls import path

from compassionclub.security.views import two_factor_view


def admin_urls(site) -> list:
    return [path("two-factor/", two_factor_view(site), name="two_factor")]
