"""Pages the project adds inside the admin (same login, same look). Each app contributes a
function ``admin_urls(site)`` returning URL patterns wrapped in ``site.admin_view``."""

from __future__ import annotations

from compassionclub.security import admin_urls as security_urls
from distributions.desk import urls as desk_urls
from distributions.exports import admin_views as export_views
from distributions.recalls import admin_views as recall_views
from members import admin_views as member_views


def extra_admin_urls(site) -> list:
    return (
        security_urls.admin_urls(site) + desk_urls.admin_urls(site) + export_views.admin_urls(site) + member_views.admin_urls(site)
        + recall_views.admin_urls(site)
    )
