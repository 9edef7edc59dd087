"""Admin mixin that writes a record to the audit trail whenever someone looks at an object's
page (its change page or its history), e.g. a member's record."""

from __future__ import annotations

from django.contrib.admin.utils import unquote

from compassionclub.audit.services import audit_log


class AuditedViewAdminMixin:
    """Logs ``<model>.viewed`` for every successful GET of an object's change or history page.
    Pages the user may not see (another group's member) are refused before anything is logged;
    the refusal itself is logged by the security middleware."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._audit_view(request, object_id, response, "change")
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._audit_view(request, object_id, response, "history")
        return response

    def _audit_view(self, request, object_id, response, page: str) -> None:
        if request.method != "GET" or response.status_code != 200:
            return
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return
        audit_log(action=f"{self.opts.model_name}.viewed", actor=request.user, target=obj, new={"page": page})


def admin_recent_action(request, obj, message: str, *, added: bool = False) -> None:
    """List a write done through a service page in the admin's "Recent actions" (Django's
    ``LogEntry``), as the admin's own add and change forms do. The audit trail stays the
    record; this is the signed-in user's own list of what they just did."""
    from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

    LogEntry.objects.log_actions(
        user_id=request.user.pk, queryset=[obj], action_flag=ADDITION if added else CHANGE,
        change_message=message, single_object=True,
    )
