"""Admin building blocks for group scoping (the shared ones, read-only history and audited
saves, are in ``compassionclub.admin_mixins``).

Scoping reaches every door a coordinator has into the admin: the changelist and its filters,
change and history pages by typed URL, actions (Django builds their queryset from
``get_queryset``), autocomplete (Django asks the target model's admin for its queryset), and
the choices of foreign-key and many-to-many fields in forms and inlines.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.core.exceptions import FieldDoesNotExist

from members.scoping import scope_queryset, sees_all_groups


def related_group_path(admin_site, model) -> str | None:
    """The ORM path from ``model`` to MemberGroup if rows of ``model`` are scoped to groups
    (MemberGroup itself, or a model whose admin is group-scoped), else None."""
    from members.models import MemberGroup

    if model is MemberGroup:
        return ""
    model_admin = admin_site._registry.get(model)
    if isinstance(model_admin, GroupScopedAdminMixin):
        return model_admin.group_path
    return None


class ScopedRelationsMixin:
    """Foreign-key and many-to-many choices in forms (and inlines) offer only rows of the
    groups the user may see, so a hand-edited form cannot point at another group's row."""

    def _scope_related(self, db_field, request, kwargs) -> None:
        if sees_all_groups(request.user) or "queryset" in kwargs:
            return
        path = related_group_path(self.admin_site, db_field.related_model)
        if path is not None:
            kwargs["queryset"] = scope_queryset(db_field.related_model._default_manager.all(), request.user, path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        self._scope_related(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        self._scope_related(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class GroupScopedAdminMixin(ScopedRelationsMixin):
    """Limit every queryset the admin builds (lists, change pages by typed URL, history,
    autocomplete, actions) to the groups the user may see. ``group_path`` is the ORM path from
    the model to its MemberGroup ("" for MemberGroup itself).

    For users scoped to their groups, the direct group field is read-only once the object
    exists (a coordinator cannot move a member to another group), and list filters on scoped
    relations offer only the values present in the user's own rows."""

    group_path: str = "group"

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user, self.group_path)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        moves_group = obj is not None and self.group_path and "__" not in self.group_path
        if moves_group and self.group_path not in fields and not sees_all_groups(request.user):
            fields.append(self.group_path)
        return fields

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if sees_all_groups(request.user):
            return filters
        scoped = []
        for item in filters:
            if isinstance(item, str) and "__" not in item:
                try:
                    field = self.model._meta.get_field(item)
                except FieldDoesNotExist:
                    field = None
                if field is not None and field.is_relation and related_group_path(self.admin_site, field.related_model) is not None:
                    item = (item, RelatedOnlyFieldListFilter)
            scoped.append(item)
        return scoped


class ReadOnlyInline(ScopedRelationsMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MemberCodeSearchMixin:
    """The search box takes a member code as printed on the card: with dashes or spaces, in
    lower case, with O/0 and I/1/L look-alikes (``normalise_code``, as the desk reads it).

    ``member_code_field`` is the ORM path to the member's code. A term that normalises to
    code symbols also matches that path (whole codes exactly, parts of a code anywhere in it
    unless ``member_code_exact``); the admin's own search runs as before for other terms."""

    member_code_field = "code"
    member_code_exact = False

    def get_search_results(self, request, queryset, search_term):
        from members.codes import ALPHABET, CODE_LENGTH, normalise_code

        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        code = normalise_code(search_term.strip())
        if not code or any(ch not in ALPHABET for ch in code) or len(code) > CODE_LENGTH:
            return results, may_have_duplicates
        if len(code) == CODE_LENGTH:
            by_code = queryset.filter(**{self.member_code_field: code})
        elif self.member_code_exact:
            return results, may_have_duplicates
        else:
            by_code = queryset.filter(**{f"{self.member_code_field}__contains": code})
        return results | by_code, may_have_duplicates
