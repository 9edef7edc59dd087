"""The admin site: the project's main interface.

One ``AdminSite`` subclass so the project can add its own pages (the distribution desk, the
dashboard, exports, two-factor enrolment) inside the admin's login and look. With
``settings.REQUIRE_2FA`` (production), a session counts as signed in only after a second factor
(``compassionclub.security``); the recent-actions box names only rows the user may still see.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.functional import SimpleLazyObject


class LedgerAdminSite(admin.AdminSite):
    site_header = "Compassion club ledger"
    site_title = "Compassion club ledger"
    index_title = "Dashboard"
    # "View site" opens the members' public status page; nothing is served at "/".
    site_url = "/status/"

    def get_urls(self):
        from compassionclub.admin_urls import extra_admin_urls

        return extra_admin_urls(self) + super().get_urls()

    def index(self, request, extra_context=None):
        from distributions.dashboard import dashboard_context

        return super().index(request, extra_context={**dashboard_context(request), **(extra_context or {})})

    def get_app_list(self, request, app_label=None):
        """The apps and models the user may see, built once per request: Django's index builds
        it twice (for the sidebar in ``each_context`` and for the page), as does the backup
        codes page, and each build checks five permissions and reverses two URLs for every
        registered model. Permissions are already cached on ``request.user`` for the request,
        so a second build could not differ."""
        built = request.__dict__.setdefault("_admin_app_lists", {})
        if app_label not in built:
            built[app_label] = super().get_app_list(request, app_label)
        return built[app_label]

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        if settings.REQUIRE_2FA:
            is_verified = getattr(request.user, "is_verified", None)
            return bool(is_verified and is_verified())
        return True

    def get_log_entries(self, request):
        """The recent-actions box. For someone scoped to their groups it names only what they
        may still see: an entry about a member (or another group-scoped row) of a group they
        no longer coordinate drops out. It stays lazy, so it costs no query on pages that do
        not show it; and the filter, which walks every registered model, is built only when a
        page reads it (the index): on a coordinator's other pages it was a sixth of the time."""
        return SimpleLazyObject(lambda: self._visible_log_entries(request))

    def _visible_log_entries(self, request):
        from django.contrib.contenttypes.models import ContentType
        from django.db.models import CharField, Q
        from django.db.models.functions import Cast

        from members.admin_mixins import related_group_path
        from members.scoping import scope_queryset, sees_all_groups

        entries = super().get_log_entries(request)
        if not request.user.is_authenticated:
            return entries.none()
        if sees_all_groups(request.user):
            return entries
        scoped_types = Q()
        visible = Q()
        for model in self._registry:
            path = related_group_path(self, model)
            if path is None:
                continue
            content_type = ContentType.objects.get_for_model(model)
            rows = scope_queryset(model._default_manager.all(), request.user, path)
            scoped_types |= Q(content_type=content_type)
            visible |= Q(content_type=content_type,
                         object_id__in=rows.annotate(pk_text=Cast("pk", CharField())).values("pk_text"))
        return entries.filter(~scoped_types | visible)


class LedgerAdminConfig(AdminConfig):
    default_site = "compassionclub.admin_site.LedgerAdminSite"
