"""The desk's pages inside the admin: same login, same look, the admin's CSRF protection."""

from __future__ import annotations

from django.urls import path

from distributions.desk import views


def admin_urls(site) -> list:
    return [
        path("desk/", site.admin_view(views.desk), {"site": site}, name="distributions_desk"),
        path("desk/record/", site.admin_view(views.record), {"site": site}, name="distributions_desk_record"),
        path("desk/told/", site.admin_view(views.told), {"site": site}, name="distributions_desk_told"),
        path("desk/clear/", site.admin_view(views.clear), {"site": site}, name="distributions_desk_clear"),
        path("desk/replace/", site.admin_view(views.replace), {"site": site}, name="distributions_desk_replace"),
        path("desk/undo/", site.admin_view(views.undo), {"site": site}, name="distributions_desk_undo"),
    ]
