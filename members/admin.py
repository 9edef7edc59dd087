from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from compassionclub.admin_mixins import AuditedSaveAdminMixin, NoDeleteAdminMixin, ReadOnlyAdminMixin
from compassionclub.audit.admin_mixins import AuditedViewAdminMixin
from members.admin_mixins import GroupScopedAdminMixin, MemberCodeSearchMixin, ReadOnlyInline
from members.admin_views import MemberPagesMixin
from members.models import Member, MemberGroup, MemberStatusChange, RetiredCode


@admin.register(MemberGroup)
class MemberGroupAdmin(AuditedSaveAdminMixin, GroupScopedAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
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
class MemberAdmin(MemberPagesMixin, MemberCodeSearchMixin, AuditedViewAdminMixin, GroupScopedAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["display_code", "group", "status", "enrolled_on", "renewal_due"]
    list_filter = ["status", "group"]
    list_select_related = ["group"]
    search_fields = ["code"]
    # Every change goes through a service page (enrol, status, PIN, renewal), never this form.
    # The code as printed on the card (dashed), the only way a code is shown anywhere.
    fields = ["display_code", "member_actions", "group", "status", "enrolled_on", "renewal_due", "consent_version",
              "consent_given_at", "age_attested", "created_at", "created_by", "forgotten_at"]
    readonly_fields = fields
    inlines = [StatusChangeInline]
    show_full_result_count = False
    change_form_template = "admin/members/member/change_form.html"

    # What a higher layer may add to the member page: [{"id", "title", "columns", "rows", "empty"}]
    # (``distributions.member_admin`` adds the visits and the allowance, which this app cannot read).
    def extra_panels(self, request, member: Member) -> list[dict]:
        retired = list(member.retired_codes.select_related("retired_by"))
        if not retired:
            return []
        # Which old code belonged to whom is for auditors; the coordinator sees that and when.
        show_codes = request.user.has_perm("members.view_retiredcode")
        return [{
            "id": "member-cards",
            "title": "Cards replaced",
            "columns": ["Replaced on", "Why", "By", *(["Old code"] if show_codes else [])],
            "rows": [
                [f"{timezone.localtime(r.retired_at):%Y-%m-%d %H:%M}", r.get_reason_display(), r.retired_by.get_username(),
                 *([r.display_code] if show_codes else [])]
                for r in retired
            ],
            "empty": "",
        }]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Every field is read-only here (changes go through the action links), so no Save buttons.
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False,
                         "show_save_and_add_another": False}
        member = self.get_object(request, object_id) if str(object_id).isdigit() else None
        if member is not None:
            extra_context["extra_panels"] = self.extra_panels(request, member)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="actions")
    def member_actions(self, obj: Member) -> str:
        links = [("members_member_card", "Print card"), ("members_member_status", "Change status"),
                 ("members_member_reset_pin", "Reset PIN"), ("members_member_renew", "Renew"),
                 ("members_member_reissue", "New card (lost, stolen, damaged)")]
        return format_html(" · ".join('<a href="{}">{}</a>' for _ in links),
                           *[x for name, label in links for x in (reverse(f"admin:{name}", args=[obj.pk]), label)])

    @admin.display(description="code", ordering="code")
    def display_code(self, obj: Member) -> str:
        return obj.display_code


@admin.register(MemberStatusChange)
class MemberStatusChangeAdmin(MemberCodeSearchMixin, GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    group_path = "member__group"
    list_display = ["member", "from_status", "to_status", "reason", "changed_by", "changed_at"]
    list_filter = ["to_status", "reason"]
    list_select_related = ["member", "changed_by"]
    search_fields = ["member__code"]
    member_code_field = "member__code"


@admin.register(RetiredCode)
class RetiredCodeAdmin(MemberCodeSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which member an old card's code belonged to: auditors only (``view_retiredcode``)."""

    list_display = ["display_code", "member", "reason", "retired_at", "retired_by"]
    list_filter = ["reason"]
    list_select_related = ["member", "retired_by"]
    search_fields = ["code", "member__code"]
    fields = ["display_code", "member", "reason", "retired_at", "retired_by"]
    readonly_fields = fields

    @admin.display(description="old code", ordering="code")
    def display_code(self, obj: RetiredCode) -> str:
        return obj.display_code
