"""Forms for the drug-checking admin pages. They only shape input; the services decide."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from testing_results.models import Compound, DrugCheck, Finding, Instrument, MethodCapability, StripLot, Substance
from testing_results.services import LAB_REPORT_MAX_BYTES, method_capability_validate


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the batch's history. Describe the batch, never a member.",
    )


class ReceiveForm(forms.Form):
    substance = forms.ModelChoiceField(queryset=Substance.objects.all())
    received_grams = forms.DecimalField(max_digits=12, decimal_places=3, label="Grams received")
    received_on = forms.DateField(initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"}))
    best_before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class CheckForm(forms.Form):
    method = forms.ChoiceField(choices=DrugCheck.Method.choices)
    performed_at = forms.DateTimeField(
        initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    instrument = forms.ModelChoiceField(
        queryset=Instrument.objects.filter(unrecorded_before__isnull=True), required=False,
        help_text="For FTIR and mass spectrometry: the instrument the check ran on.",
    )
    strip_lot = forms.ModelChoiceField(
        queryset=StripLot.objects.filter(unrecorded_before__isnull=True), required=False,
        help_text="For strips: the lot the strip came from.",
    )
    lab = forms.CharField(max_length=120, label="Lab")
    sample_mg = forms.DecimalField(max_digits=10, decimal_places=3, min_value=0, label="Sample used (mg)")
    lab_report = forms.FileField(
        required=False, label="Lab report (PDF)",
        help_text=f"Optional. PDF only, at most {LAB_REPORT_MAX_BYTES // (1024 * 1024)} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )


    def clean(self):
        data = super().clean()
        method = data.get("method")
        if method == DrugCheck.Method.IMMUNOASSAY and not data.get("strip_lot"):
            self.add_error("strip_lot", "Name the strip lot this strip came from.")
        elif method and method != DrugCheck.Method.IMMUNOASSAY and not data.get("instrument"):
            self.add_error("instrument", "Name the instrument this check ran on.")
        return data


class InvalidateForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "---------"), *DrugCheck.InvalidationReason.choices])


class ReportForm(forms.Form):
    lab_report = forms.FileField(
        label="Lab report (PDF)",
        help_text=f"PDF only, at most {LAB_REPORT_MAX_BYTES // (1024 * 1024)} MB. A report, once attached, is never replaced.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )


class FindingForm(forms.Form):
    compound = forms.ModelChoiceField(queryset=Compound.objects.all(), required=False)
    result = forms.ChoiceField(choices=[("", "---------"), *Finding.Result.choices], required=False)
    concentration_pct = forms.DecimalField(
        max_digits=6, decimal_places=3, required=False, label="Concentration (%)"
    )

    def clean(self):
        data = super().clean()
        if data.get("compound") and not data.get("result"):
            self.add_error("result", "Choose a result for this compound.")
        if data.get("result") and not data.get("compound"):
            self.add_error("compound", "Choose the compound this result is about.")
        return data


FindingFormSet = forms.formset_factory(FindingForm, extra=8, max_num=40)


def findings_from(formset) -> list[dict]:
    return [
        {"compound": f.cleaned_data["compound"], "result": f.cleaned_data["result"],
         "concentration_pct": f.cleaned_data.get("concentration_pct")}
        for f in formset.forms
        if f.cleaned_data.get("compound")
    ]


class MethodCapabilityForm(forms.ModelForm):
    class Meta:
        model = MethodCapability
        fields = ["can_rule_out", "required", "note"]

    def clean(self):
        data = super().clean()
        # The service's own check, so a refusal comes back on the form.
        method_capability_validate(
            method=self.instance.method, drug_class=self.instance.drug_class,
            can_rule_out=bool(data.get("can_rule_out")), required=bool(data.get("required")),
        )
        return data

