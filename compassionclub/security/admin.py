"""Staff accounts in the admin: a programme admin can end a user's sessions and reset their
two-factor sign-in, and cannot hand out superuser status or single permissions (roles are
given by group)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from compassionclub.admin_mixins import AuditedSaveAdminMixin
from compassionclub.errors import ServiceError
from compassionclub.security import services

User = get_user_model()


SESSION_ISSUED_CODE = "security_issued_enrolment_code"


class StaffUserAdmin(AuditedSaveAdminMixin, UserAdmin):
    actions = ["end_sessions", "reset_two_factor", "issue_enrolment_code"]

    def get_urls(self):
        return [
            path("<int:pk>/enrolment-code/", self.admin_site.admin_view(self.enrolment_code_view),
                 name="auth_user_enrolment_code"),
            *super().get_urls(),
        ]

    def enrolment_code_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Shows a just-issued enrolment code, once: the action's POST redirects here and the
        code leaves the session as it is shown."""
        issued = request.session.pop(SESSION_ISSUED_CODE, None)
        if not self.has_change_permission(request) or not issued or issued.get("user") != pk:
            return HttpResponseRedirect(reverse("admin:auth_user_changelist"))
        user = User.objects.get(pk=pk)
        context = {**self.admin_site.each_context(request), "title": f"Enrolment code for {user.get_username()}",
                   "code": issued["code"], "opts": self.model._meta, "hours": settings.TWO_FACTOR_ENROLMENT_CODE_HOURS}
        return TemplateResponse(request, "security/enrolment_code_issued.html", context)

    @admin.action(description="Issue a two-factor enrolment code (shown once, to hand over in person)",
                  permissions=["change"])
    def issue_enrolment_code(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one user: each code is shown once, for one person.",
                              messages.ERROR)
            return None
        user = queryset.get()
        try:
            code = services.enrolment_code_issue(user=user, by=request.user)
        except ServiceError as exc:
            self.message_user(request, f"{user.get_username()}: {exc.message_text}", messages.ERROR)
            return None
        request.session[SESSION_ISSUED_CODE] = {"user": user.pk, "code": code}
        return HttpResponseRedirect(reverse("admin:auth_user_enrolment_code", args=[user.pk]))

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions", "last_login", "date_joined"]
        return fields

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        # A programme admin may not take over a superuser's account (its password included).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Staff users are referenced by the ledger and the audit trail: deactivate instead.
        return False

    def _each(self, request, queryset, action, done_message: str) -> None:
        done = 0
        for user in queryset:
            try:
                action(user=user, by=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{user.get_username()}: {exc.message_text}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message.format(count=done), messages.SUCCESS)

    @admin.action(description="End the selected users' sessions (sign them out everywhere)", permissions=["change"])
    def end_sessions(self, request, queryset) -> None:
        self._each(request, queryset, services.user_sessions_end, "Signed out {count} user(s) everywhere.")

    @admin.action(description="Reset two-factor sign-in (lost phone) and sign out", permissions=["change"])
    def reset_two_factor(self, request, queryset) -> None:
        self._each(request, queryset, services.two_factor_reset, "Reset two-factor sign-in for {count} user(s).")


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
