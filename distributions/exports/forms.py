"""The parameters form of the export pages; one form, showing only what an export reads."""

from __future__ import annotations

from django import forms

from distributions.exports.base import MONTH, WEEK, Exporter, ExportParams
from distributions.visibility import batches_visible_to
from testing_results.models import Batch, Substance


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=())
    batch_id = forms.ModelChoiceField(queryset=Batch.objects.none(), label="Batch", required=False)
    date_from = forms.DateField(required=False, label="From (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    substance_id = forms.ModelChoiceField(queryset=Substance.objects.order_by("name"), label="Substance", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Batch.Status.choices], label="Batch status", required=False)
    member_code = forms.CharField(
        label="Member code", required=False, max_length=40,
        help_text="Only this member's entries. Type it as printed on the card (dashes optional).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    period = forms.ChoiceField(choices=[(WEEK, "Week (Monday to Sunday)"), (MONTH, "Month")], initial=WEEK)

    def __init__(self, *args, exporter_class: type[Exporter], user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.exporter_class = exporter_class
        self.fields["format"].choices = [(f, f.upper()) for f in exporter_class.formats]
        self.fields["format"].initial = exporter_class.formats[0]
        if "batch_id" in exporter_class.parameters:
            self.fields["batch_id"].queryset = batches_visible_to(
                user, Batch.objects.select_related("substance").order_by("-received_on", "code")
            )
        for name in [n for n in self.fields if n != "format" and n not in exporter_class.parameters]:
            del self.fields[name]
        for name in exporter_class.required:
            self.fields[name].required = True

    def params(self) -> ExportParams:
        data = self.cleaned_data
        batch = data.get("batch_id")
        substance = data.get("substance_id")
        return ExportParams(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            substance_id=substance.pk if substance else None,
            status=data.get("status") or None,
            period=data.get("period") or WEEK,
            batch_id=batch.pk if batch else None,
            member_code=(data.get("member_code") or "").strip() or None,
        )
