"""The security pages inside the admin: ``admin:two_factor``."""

from __future__ import annotations

from django.urls import path

from compassionclub.security.views import two_factor


def admin_urls(site) -> list:
    # Not wrapped in ``site.admin_view``: it opens before the second factor is given.
    return [path("two-factor/", two_factor, {"site": site}, name="two_factor")]
