from django.contrib import admin
from django.db.models import Q

from distributions.models import Account, AllowanceOverride, AllowancePolicy, Balance, LedgerEntry
from members.admin_mixins import GroupScopedAdminMixin, NoDeleteAdminMixin, ReadOnlyAdminMixin
from members.scoping import coordinated_group_ids, sees_all_groups


@admin.register(Account)
class AccountAdmin(GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "kind", "group"]
    list_filter = ["kind"]
    list_select_related = ["group"]
    search_fields = ["group__short_name", "kind"]


@admin.register(Balance)
class BalanceAdmin(GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    group_path = "account__group"
    list_display = ["account", "batch", "grams"]
    list_filter = ["account__kind", "batch__substance"]
    list_select_related = ["account__group", "batch"]
    search_fields = ["batch__code", "account__group__short_name"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "batch", "from_account", "to_account", "grams", "member", "occurred_at", "recorded_by"]
    list_filter = ["kind", "batch__substance"]
    list_select_related = ["batch", "from_account__group", "to_account__group", "member", "recorded_by"]
    search_fields = ["batch__code", "member__code", "idempotency_key"]
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_all_groups(request.user):
            return qs
        ids = coordinated_group_ids(request.user)
        # Coordinators see entries that touch their groups' stores or members.
        return qs.filter(
            Q(from_account__group__in=ids) | Q(to_account__group__in=ids) | Q(member__group__in=ids)
        )


@admin.register(AllowancePolicy)
class AllowancePolicyAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["substance", "group", "max_grams", "window_days"]
    list_filter = ["substance", "group"]
    list_select_related = ["substance", "group"]
    search_fields = ["substance__name", "group__short_name"]
    autocomplete_fields = ["substance", "group"]
    readonly_fields = ["created_by", "created_at"]


@admin.register(AllowanceOverride)
class AllowanceOverrideAdmin(GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    group_path = "member__group"
    list_display = ["member", "substance", "max_grams", "valid_from", "valid_until", "requested_by", "approved_by"]
    list_select_related = ["member", "substance", "requested_by", "approved_by"]
    search_fields = ["member__code"]
