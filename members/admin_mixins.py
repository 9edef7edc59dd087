"""Admin building blocks shared by every app: group scoping and read-only history."""

from __future__ import annotations

from django.contrib import admin

from members.scoping import scope_queryset


class GroupScopedAdminMixin:
    """Limit every queryset the admin builds (lists, change pages by typed URL, history,
    autocomplete, actions) to the groups the user may see. ``group_path`` is the ORM path from
    the model to its MemberGroup ("" for MemberGroup itself)."""

    group_path: str = "group"

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user, self.group_path)


class ReadOnlyAdminMixin:
    """History is shown, never edited or deleted, by anyone, superusers included."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class NoDeleteAdminMixin:
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
