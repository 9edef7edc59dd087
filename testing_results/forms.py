"""Forms for the drug-checking admin pages. They only shape input; the services decide."""

from __future__ import annotations

from django import forms
from django.forms.utils import ErrorDict
from django.utils import timezone

from testing_results.models import (
    Compound,
    DetectionLimit,
    DrugCheck,
    Finding,
    Instrument,
    Method,
    MethodCapability,
    StripLot,
    Substance,
)
from testing_results.rules import RESULTS_FOR_KIND
from testing_results.services import (
    LAB_REPORT_MAX_BYTES,
    detection_limit_validate,
    method_capability_validate,
    method_validate,
)


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
    """One check by ``method`` (chosen on the page before): its instrument or, for a strip, its
    lot, and what the bench recorded. The method itself comes from the page's address."""

    performed_at = forms.DateTimeField(
        initial=lambda: timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    instrument = forms.ModelChoiceField(
        queryset=Instrument.objects.none(), required=False, help_text="The instrument the check ran on."
    )
    strip_lot = forms.ModelChoiceField(
        queryset=StripLot.objects.none(), required=False, help_text="The lot the strip came from."
    )
    lab = forms.CharField(max_length=120, label="Lab")
    sample_mg = forms.DecimalField(max_digits=10, decimal_places=3, min_value=0, label="Sample used (mg)")
    lab_report = forms.FileField(
        required=False, label="Lab report (PDF)",
        help_text=f"Optional. PDF only, at most {LAB_REPORT_MAX_BYTES // (1024 * 1024)} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    def __init__(self, *args, method: Method, strip_lot: StripLot | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        if method.kind == Method.Kind.STRIP:
            del self.fields["instrument"]
            lots = StripLot.objects.filter(unrecorded_before__isnull=True)
            if strip_lot is not None:
                lots = lots.filter(drug_class=strip_lot.drug_class)
                self.fields["strip_lot"].initial = strip_lot.pk
            self.fields["strip_lot"].queryset = lots
            self.fields["strip_lot"].required = True
            self.fields["strip_lot"].error_messages["required"] = "Name the strip lot this strip came from."
        else:
            del self.fields["strip_lot"]
            instruments = Instrument.objects.filter(method=method, unrecorded_before__isnull=True)
            self.fields["instrument"].queryset = instruments
            self.fields["instrument"].required = True
            self.fields["instrument"].error_messages["required"] = "Name the instrument this check ran on."
            if len(instruments) == 1:
                self.fields["instrument"].initial = instruments[0].pk


class FindingForm(forms.Form):
    """One row: a compound and its result. A row whose result is left empty is not recorded
    (panel rows start with their compound filled in)."""

    compound = forms.ModelChoiceField(queryset=Compound.objects.all(), required=False)
    result = forms.ChoiceField(choices=[("", "---------"), *Finding.Result.choices], required=False)
    concentration_pct = forms.DecimalField(
        max_digits=6, decimal_places=3, required=False, label="Concentration (%)"
    )

    def __init__(self, *args, method: Method | None = None, compounds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if method is not None:
            allowed = RESULTS_FOR_KIND[method.kind]
            self.fields["result"].choices = [("", "---------"), *((v, label) for v, label in Finding.Result.choices if v in allowed)]
            if not method.quantifies:
                del self.fields["concentration_pct"]
        if compounds is not None:
            self.fields["compound"].queryset = compounds
        # The formset shows these as table cells under column headings, without a label each:
        # a screen reader needs to hear which finding and which column a field is.
        number = int(self.prefix.rsplit("-", 1)[-1]) + 1 if self.prefix and self.prefix[-1].isdigit() else 1
        for name, label in (("compound", "compound"), ("result", "result"), ("concentration_pct", "concentration (%)")):
            if name in self.fields:
                self.fields[name].widget.attrs["aria-label"] = f"Finding {number}: {label}"

    def clean(self):
        data = super().clean()
        if data.get("result") and not data.get("compound"):
            self.add_error("compound", "Choose the compound this result is about.")
        if data.get("concentration_pct") is not None and not data.get("result"):
            self.add_error("result", "Choose a result for this compound.")
        return data


class BaseFindingFormSet(forms.BaseFormSet):
    def __init__(self, *args, method: Method | None = None, compounds=None, **kwargs):
        self.method, self.compounds = method, compounds
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "method": self.method, "compounds": self.compounds}


FindingFormSet = forms.formset_factory(FindingForm, formset=BaseFindingFormSet, extra=2, max_num=60)
EXTRA_ROWS = 2


def findings_from(formset) -> list[dict]:
    return [
        {"compound": f.cleaned_data["compound"], "result": f.cleaned_data["result"],
         "concentration_pct": f.cleaned_data.get("concentration_pct")}
        for f in formset.forms
        if f.cleaned_data.get("compound") and f.cleaned_data.get("result")
    ]


def quiet(form) -> None:
    """Show a bound form again without errors (after "Add a row", nothing was submitted yet)."""
    form._errors = ErrorDict()
    if isinstance(form, forms.BaseFormSet):
        form._non_form_errors = form.error_class()
        for f in form.forms:
            quiet(f)


class InvalidateForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "---------"), *DrugCheck.InvalidationReason.choices])


class ReportForm(forms.Form):
    lab_report = forms.FileField(
        label="Lab report (PDF)",
        help_text=f"PDF only, at most {LAB_REPORT_MAX_BYTES // (1024 * 1024)} MB. A report, once attached, is never replaced.",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )


class MethodCapabilityForm(forms.ModelForm):
    class Meta:
        model = MethodCapability
        fields = ["can_rule_out", "required", "note"]

    def clean(self):
        data = super().clean()
        # The service's own check, so a refusal comes back on the form.
        method_capability_validate(
            method=self.instance.method_id, drug_class=self.instance.drug_class,
            can_rule_out=bool(data.get("can_rule_out")), required=bool(data.get("required")),
        )
        return data



class MethodForm(forms.ModelForm):
    class Meta:
        model = Method
        fields = ["code", "name", "kind", "quantifies", "required", "panel"]

    def clean(self):
        data = super().clean()
        existing = Method.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        # The service's own check, so a refusal comes back on the form.
        method_validate(
            code=data.get("code") or self.instance.code, kind=data.get("kind") or "",
            quantifies=bool(data.get("quantifies")), required=bool(data.get("required")), existing=existing,
        )
        return data


class DetectionLimitForm(forms.ModelForm):
    class Meta:
        model = DetectionLimit
        fields = ["method", "instrument", "compound", "drug_class", "limit_pct", "note"]

    def clean(self):
        data = super().clean()
        if data.get("method") is not None and data.get("limit_pct") is not None:
            # The service's own check, so a refusal comes back on the form.
            detection_limit_validate(
                method=data["method"], limit_pct=data["limit_pct"], instrument=data.get("instrument"),
                compound=data.get("compound"), drug_class=data.get("drug_class") or "", exclude_pk=self.instance.pk,
            )
        return data


class ReferencePolicyForm(forms.Form):
    grams = forms.DecimalField(
        label="Reference sample (g)", min_value=0, max_value=1000, decimal_places=3,
        help_text="Retained from each batch at receipt; 0 keeps none. Batches already received keep theirs.",
    )
