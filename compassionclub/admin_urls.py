"""Pages the project adds inside the admin (same login, same look). Each app contributes a
function ``admin_urls(site)`` returning URL patterns wrapped in ``site.admin_view``."""

from __future__ import annotations


def extra_admin_urls(site) -> list:
    return []
