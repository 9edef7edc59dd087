"""Admin building blocks every app shares: read-only and no-delete admins, a paginator that
does not count millions of rows, and audit records for admin saves (the audit trail's own
helpers, for views of a record and the recent-actions box, are in ``compassionclub.audit.admin_mixins``).

Group scoping, which needs to know about member groups, lives in ``members.admin_mixins``.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from compassionclub.audit.services import audit_log


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
