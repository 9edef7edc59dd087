"""Admin building blocks every app shares: read-only and no-delete admins, a paginator that
does not count millions of rows, one page for a setting kept as a single row, and audit records
for admin saves (the audit trail's own
helpers, for views of a record and the recent-actions box, are in ``compassionclub.audit.admin_mixins``).

Group scoping, which needs to know about member groups, lives in ``members.admin_mixins``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError


class NoDeleteAdminMixin:
    """History outlives what it describes: nothing is deleted through the admin, and the
    ``delete_selected`` action, which bypasses ``Model.delete()``, is gone."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyAdminMixin(NoDeleteAdminMixin):
    """History is shown, never edited or deleted, by anyone, superusers included."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class SettingPageAdminMixin:
    """A programme setting kept as one current row (``Model.current()``): its list page is the
    form, read-only without the change permission; its change page leads back there; nobody adds
    a second row. The service that saves it checks the permission again and writes the audit."""

    def has_add_permission(self, request) -> bool:
        return False

    def setting_form(self, data, setting) -> forms.Form:
        raise NotImplementedError

    def setting_save(self, request: HttpRequest, data: dict[str, Any]) -> str:
        """Save through the service; return the message that says it was saved."""
        raise NotImplementedError

    def setting_page(self, request: HttpRequest, form: forms.Form, may_change: bool) -> HttpResponse:
        raise NotImplementedError

    def _setting_url(self) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        setting = self.model.current()
        may_change = self.has_change_permission(request, setting)
        form = self.setting_form(request.POST or None, setting)
        if request.method == "POST":
            if not may_change:
                raise PermissionDenied
            if form.is_valid():
                try:
                    saved = self.setting_save(request, form.cleaned_data)
                except ServiceError as error:
                    form.add_error(None, error)
                else:
                    self.message_user(request, saved, messages.SUCCESS)
                    return HttpResponseRedirect(self._setting_url())
        if not may_change:
            for field in form.fields.values():
                field.disabled = True
        return self.setting_page(request, form, may_change)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(self._setting_url())


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP + 1`` rows: an exact ``COUNT(*)`` over millions of ledger entries
    costs more than the page itself. Past the cap the list shows the first ``CAP + 1`` rows'
    worth of pages; filters, search and the exports reach the rest."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "values"):
            # SELECT COUNT(*) FROM (SELECT id ... LIMIT CAP + 1)
            # Without the list's order: an ORDER BY id DESC made PostgreSQL walk the primary key
            # backwards and discard every row outside a coordinator's groups (hundreds of
            # thousands at two million entries); unordered, it reads only the rows the filter's
            # indexes find, at most CAP + 1.
            return object_list.order_by().values("pk")[: self.CAP + 1].count()
        return min(len(object_list), self.CAP + 1)


def _audit_value(value):
    if hasattr(value, "all") and hasattr(value, "model"):  # a queryset from a many-to-many field
        return sorted(str(obj) for obj in value)
    if isinstance(value, (list, tuple, set)):
        return sorted(str(obj) for obj in value)
    return None if value is None else str(value)


class AuditedSaveAdminMixin:
    """Reference data and accounts (groups and their coordinators, compounds, substances, staff
    users and their roles) are single-row edits without a service of their own; their admin save
    still leaves an audit record, in the admin's own transaction, of which fields changed from
    what to what. Keys naming secrets are masked by ``audit_log``."""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        fields = list(form.changed_data)
        if change and not fields:
            return
        opts = self.model._meta
        audit_log(
            action=f"{opts.model_name}.{'changed' if change else 'added'}",
            actor=request.user,
            target=form.instance,
            old={f: _audit_value(form.initial.get(f)) for f in fields} if change else None,
            new={f: _audit_value(form.cleaned_data.get(f)) for f in fields},
        )
