"""Forms of the recall pages: they parse what was typed; the rules are the services'."""

from __future__ import annotations

from django import forms

from distributions.desk.forms import MemberCodeField
from distributions.recalls.models import AdverseEvent
from testing_results.models import Batch


class AdverseEventForm(forms.Form):
    batch = forms.ModelChoiceField(
        queryset=Batch.objects.filter(status__in=["released", "on_hold", "recalled"]).select_related("substance"),
        label="Batch",
        error_messages={"required": "Choose the batch.", "invalid_choice": "That batch does not exist."},
    )
    occurred_at = forms.DateTimeField(
        label="When it happened",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        error_messages={"required": "Give the date and time it happened."},
    )
    outcome = forms.ChoiceField(choices=[("", "Choose…"), *AdverseEvent.Outcome.choices], label="Outcome")
    severity = forms.ChoiceField(choices=[("", "Choose…"), *AdverseEvent.Severity.choices], label="Severity",
                                 help_text="Naloxone, emergency services, hospital and death are always severe.")
    code = MemberCodeField(required=False, label="Member code (optional, your own group only)")


class ThresholdForm(forms.Form):
    moderate_count = forms.IntegerField(min_value=1, max_value=365, label="Moderate reports about one batch")
    window_days = forms.IntegerField(min_value=1, max_value=365, label="Within this many days of each other")
