from django.contrib import admin

from members.admin_mixins import NoDeleteAdminMixin, ReadOnlyAdminMixin, ReadOnlyInline
from testing_results.models import Batch, BatchStatusChange, Compound, DrugCheck, Finding, Substance


@admin.register(Compound)
class CompoundAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["name", "category", "drug_class", "watch_listed_at"]
    list_filter = ["category", "drug_class"]
    search_fields = ["name"]


@admin.register(Substance)
class SubstanceAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["name", "expected_compound"]
    list_select_related = ["expected_compound"]
    search_fields = ["name"]
    autocomplete_fields = ["expected_compound"]


class DrugCheckInline(ReadOnlyInline):
    model = DrugCheck
    fields = ["method", "performed_at", "performed_by", "lab", "sample_mg"]
    readonly_fields = fields


class StatusHistoryInline(ReadOnlyInline):
    model = BatchStatusChange
    fields = ["changed_at", "from_status", "to_status", "changed_by", "reason"]
    readonly_fields = fields


@admin.register(Batch)
class BatchAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["code", "substance", "status", "received_on", "received_grams", "best_before"]
    list_filter = ["status", "substance"]
    list_select_related = ["substance"]
    search_fields = ["code"]
    readonly_fields = ["code", "status", "status_changed_at", "label_text", "created_by", "created_at"]
    autocomplete_fields = ["substance"]
    inlines = [DrugCheckInline, StatusHistoryInline]
    show_full_result_count = False


class FindingInline(ReadOnlyInline):
    model = Finding
    fields = ["compound", "result", "concentration_pct"]
    readonly_fields = fields


@admin.register(DrugCheck)
class DrugCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["batch", "method", "performed_at", "performed_by", "lab", "sample_mg"]
    list_filter = ["method"]
    list_select_related = ["batch", "performed_by"]
    search_fields = ["batch__code", "lab"]
    inlines = [FindingInline]


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["drug_check", "compound", "result", "concentration_pct"]
    list_filter = ["result", "compound__category"]
    list_select_related = ["drug_check__batch", "compound"]
    search_fields = ["drug_check__batch__code", "compound__name"]


@admin.register(BatchStatusChange)
class BatchStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["batch", "from_status", "to_status", "changed_by", "changed_at"]
    list_filter = ["to_status"]
    list_select_related = ["batch", "changed_by"]
    search_fields = ["batch__code"]
