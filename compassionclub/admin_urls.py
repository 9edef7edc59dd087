"""Pages the project adds inside the admin (same login, same look), one way: a URL pattern
returned by a ``get_urls``, whose view (a module function or a method) is wrapped in
``site.admin_view``. A page about one model's rows belongs to that model's ModelAdmin
(``get_urls`` there, under the model's URL); the others (the desk, the exports, the recall
pages, two-factor sign-in) come from each app's ``admin_urls(site)``, gathered here for
``LedgerAdminSite.get_urls``, and receive the site as the URL keyword ``site``.
``tests/foundation/test_admin_wiring.py`` holds every page to this."""

from __future__ import annotations

from compassionclub.security import admin_urls as security_urls
from distributions.desk import urls as desk_urls
from distributions.exports import admin_views as export_views
from distributions.recalls import admin_views as recall_views


def extra_admin_urls(site) -> list:
    return (
        security_urls.admin_urls(site) + desk_urls.admin_urls(site) + export_views.admin_urls(site)
        + recall_views.admin_urls(site)
    )
