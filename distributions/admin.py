from django.contrib import admin

from distributions import ledger_admin  # noqa: F401  (accounts, balances, entries; transfer and reversal pages)
from distributions.models import AllowanceOverride, AllowancePolicy
from members.admin_mixins import GroupScopedAdminMixin, NoDeleteAdminMixin, ReadOnlyAdminMixin


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

from distributions import batch_admin  # noqa: E402, F401  (extends the batch page with recipients and stock)
