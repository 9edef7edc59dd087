"""Admin for the reference data drug checking rests on: compounds and the watch list,
substances, instruments and strip lots, methods with their detection limits and capabilities,
and the reference-sample setting. Each save calls its service; nothing here is deleted."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from compassionclub.admin_mixins import AuditedSaveAdminMixin, NoDeleteAdminMixin, SettingPageAdminMixin
from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.forms import DetectionLimitForm, MethodCapabilityForm, MethodForm, ReferencePolicyForm
from testing_results.models import (
    Compound,
    DetectionLimit,
    Instrument,
    Method,
    MethodCapability,
    ReferenceSamplePolicy,
    StripLot,
    Substance,
)


@admin.register(Compound)
class CompoundAdmin(AuditedSaveAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["name", "category", "drug_class", "watch_listed_at"]
    list_filter = ["category", "drug_class"]
    search_fields = ["name"]
    readonly_fields = ["watch_listed_at"]
    actions = ["put_on_watch_list"]

    def get_readonly_fields(self, request, obj=None):
        # Making a compound harmful is the watch-list action's job, which also holds batches.
        if obj is not None and obj.category == Compound.Category.HARMFUL:
            return ["category", "drug_class", "watch_listed_at"]
        return self.readonly_fields

    @admin.action(description="Put on the watch list (public drug alert): hold batches that could not rule it out",
                  permissions=["change"])
    def put_on_watch_list(self, request, queryset):
        # One service transaction per compound; Django runs actions outside any transaction.
        for compound in queryset.order_by("pk"):
            try:
                held = services.compound_watch_list(compound=compound, by=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{compound}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"{compound} is on the watch list. {held} released batch{'es' if held != 1 else ''} put on hold.",
                messages.WARNING if held else messages.SUCCESS,
            )


@admin.register(Substance)
class SubstanceAdmin(AuditedSaveAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["name", "expected_compound"]
    list_select_related = ["expected_compound"]
    search_fields = ["name"]
    autocomplete_fields = ["expected_compound"]


class _SourceAdmin(AuditedSaveAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    """The "unrecorded" stand-ins of the data migration stay as they are."""

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.unrecorded_before is not None:
            return False
        return super().has_change_permission(request, obj)


@admin.register(Instrument)
class InstrumentAdmin(_SourceAdmin):
    list_display = ["make_model", "serial", "method", "library", "library_version", "verified_until"]
    list_filter = ["method"]
    search_fields = ["make_model", "serial"]


@admin.register(StripLot)
class StripLotAdmin(_SourceAdmin):
    list_display = ["maker", "lot_number", "drug_class", "cutoff_ng_ml", "expires_on"]
    list_filter = ["drug_class"]
    search_fields = ["maker", "lot_number"]


@admin.register(Method)
class MethodAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    """Methods as data. A new one rules nothing out until its capability rows are granted (on
    the method capability pages), never beyond the floor; the seeded three keep their kind."""

    form = MethodForm
    list_display = ["name", "code", "kind", "quantifies", "required"]
    fields = ["code", "name", "kind", "quantifies", "required", "panel"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        services.method_save(method=obj, panel=list(form.cleaned_data.get("panel") or []), by=request.user)

    def save_related(self, request, form, formsets, change):
        pass  # the panel was saved by the service, in its transaction


@admin.register(DetectionLimit)
class DetectionLimitAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    form = DetectionLimitForm
    list_display = ["method", "instrument", "compound", "drug_class", "limit_pct", "note"]
    list_filter = ["method"]
    list_select_related = ["method", "instrument", "compound"]
    autocomplete_fields = ["compound"]

    def save_model(self, request, obj, form, change):
        services.detection_limit_set(limit=obj, by=request.user)


@admin.register(MethodCapability)
class MethodCapabilityAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    form = MethodCapabilityForm
    list_display = ["method", "drug_class", "can_rule_out", "required", "note"]
    list_filter = ["method", "can_rule_out", "required"]
    readonly_fields = ["method", "drug_class"]
    fields = ["method", "drug_class", "can_rule_out", "required", "note"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # every (method, class) pair is seeded

    def save_model(self, request, obj, form, change):
        services.method_capability_set(
            capability=obj, can_rule_out=obj.can_rule_out, required=obj.required, note=obj.note, by=request.user
        )


@admin.register(ReferenceSamplePolicy)
class ReferenceSamplePolicyAdmin(SettingPageAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    """One setting on one page: the grams retained from each batch at receipt."""

    def setting_form(self, data, setting) -> ReferencePolicyForm:
        return ReferencePolicyForm(data, initial={"grams": setting.grams})

    def setting_save(self, request, data) -> str:
        services.reference_policy_set(grams=data["grams"], by=request.user)
        return "Reference sample setting saved."

    def setting_page(self, request, form, may_change) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Reference sample", "form": form,
            "may_change": may_change,
            "note": "At receipt, this many grams of each batch move from the central store to the reference account: "
                    "kept for retests, never handed out, destroyed witnessed when the batch is finished.",
        }
        return TemplateResponse(request, "admin/testing_results/referencesamplepolicy/form.html", context)
