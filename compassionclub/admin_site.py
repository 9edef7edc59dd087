"""The admin site: the project's main interface.

One ``AdminSite`` subclass so the project can add its own pages (the distribution desk, the
dashboard, exports, two-factor enrolment) inside the admin's login and look.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class LedgerAdminSite(admin.AdminSite):
    site_header = "Compassion club ledger"
    site_title = "Compassion club ledger"
    index_title = "Dashboard"

    def get_urls(self):
        from compassionclub.admin_urls import extra_admin_urls

        return extra_admin_urls(self) + super().get_urls()


class LedgerAdminConfig(AdminConfig):
    default_site = "compassionclub.admin_site.LedgerAdminSite"
