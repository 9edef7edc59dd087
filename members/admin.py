from django.contrib import admin
from django.db.models import Count, Q

from compassionclub.audit.admin_mixins import AuditedViewAdminMixin
from members.admin_mixins import GroupScopedAdminMixin, NoDeleteAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from members.models import Member, MemberGroup, MemberStatusChange


@admin.register(MemberGroup)
class MemberGroupAdmin(GroupScopedAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    group_path = ""
    list_display = ["short_name", "name", "region", "is_active", "active_members"]
    list_filter = ["region", "is_active"]
    search_fields = ["short_name", "name"]
    filter_horizontal = ["coordinators"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _active_members=Count("members", filter=Q(members__status=Member.Status.ACTIVE))
        )

    @admin.display(description="active members", ordering="_active_members")
    def active_members(self, obj: MemberGroup) -> int:
        return obj._active_members


class StatusChangeInline(ReadOnlyInline):
    model = MemberStatusChange
    fields = ["changed_at", "from_status", "to_status", "reason", "changed_by"]
    readonly_fields = fields


@admin.register(Member)
class MemberAdmin(AuditedViewAdminMixin, GroupScopedAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["display_code", "group", "status", "enrolled_on", "renewal_due"]
    list_filter = ["status", "group"]
    list_select_related = ["group"]
    search_fields = ["code"]
    readonly_fields = ["code", "created_at", "created_by", "consent_given_at"]
    exclude = ["pin"]
    autocomplete_fields = ["group"]
    inlines = [StatusChangeInline]
    show_full_result_count = False

    @admin.display(description="code", ordering="code")
    def display_code(self, obj: Member) -> str:
        return obj.display_code


@admin.register(MemberStatusChange)
class MemberStatusChangeAdmin(GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    group_path = "member__group"
    list_display = ["member", "from_status", "to_status", "reason", "changed_by", "changed_at"]
    list_filter = ["to_status", "reason"]
    list_select_related = ["member", "changed_by"]
    search_fields = ["member__code"]
