"""Desk forms. They parse what was typed; every rule about who may receive what is the
services' (a refusal comes back as a form error carrying the service's message)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from distributions.models import LedgerEntry
from members.codes import is_valid_code, normalise_code
from testing_results.models import Batch

TYPO_MESSAGE = (
    "This code has a typo: its last character does not match the rest. "
    "Read it again from the card (12 characters, dashes optional)."
)
NOT_FOUND_MESSAGE = "No member of your groups has this code."


class MemberCodeField(forms.CharField):
    """A member code as typed or scanned, checked against its check character without
    touching the database."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("label", "Member code")
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalise_code(value) if value else value

    def validate(self, value) -> None:
        super().validate(value)
        if value and not is_valid_code(value):
            raise ValidationError(TYPO_MESSAGE, code="code_typo")


class LookupForm(forms.Form):
    code = MemberCodeField(
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "autocorrect": "off",
                "spellcheck": "false",
                "enterkeyhint": "search",
                "placeholder": "ABCD-EFGH-JKMN",
            }
        ),
        help_text="Type it or scan the card, then press Enter.",
    )


class DistributionForm(forms.Form):
    code = MemberCodeField(widget=forms.HiddenInput)
    # Any batch is accepted here so that a batch recalled, held or emptied since the page was
    # shown reaches the service, which refuses it with its own message.
    batch = forms.ModelChoiceField(
        queryset=Batch.objects.select_related("substance"),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={
            "required": "Choose a batch.",
            "invalid_choice": "That batch does not exist. Choose one from the list.",
        },
    )
    grams = forms.DecimalField(
        label="Grams",
        max_digits=9,
        decimal_places=3,
        widget=forms.NumberInput(attrs={"step": "0.001", "inputmode": "decimal", "enterkeyhint": "done"}),
        error_messages={"required": "Enter the grams handed out."},
    )
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    # Which field a service refusal belongs to; other codes are shown above the form.
    ERROR_FIELDS = {
        "over_allowance": "grams",
        "insufficient_stock": "grams",
        "grams_not_positive": "grams",
        "batch_not_released": "batch",
        "batch_recalled": "batch",
        "batch_on_hold": "batch",
    }

    def add_service_error(self, error) -> None:
        field = self.ERROR_FIELDS.get(getattr(error, "code", ""), None)
        if field == "batch":
            # The refused batch may no longer be listed (a recall takes it off the page), so
            # say which one the service refused.
            error = ValidationError(f"{self.cleaned_data['batch'].code}: {error}", code=error.code)
        self.add_error(field, error)


class UndoForm(forms.Form):
    # The ledger's fixed reasons rather than free text: a reversal's reason is kept forever, and
    # free text invites details about the person. "Sent to the wrong store" is not a desk case.
    REASONS = [
        (reason.value, reason.label)
        for reason in LedgerEntry.ReversalReason
        if reason != LedgerEntry.ReversalReason.WRONG_STORE
    ]

    entry = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.ChoiceField(
        choices=[("", "Choose a reason…"), *REASONS],
        label="Reason",
        error_messages={"required": "Choose why it is being undone."},
    )


class MemberToldForm(forms.Form):
    """"The member was told" about one held or recalled batch: a coded event, no free text."""

    code = MemberCodeField(widget=forms.HiddenInput)
    batch = forms.ModelChoiceField(queryset=Batch.objects.all(), widget=forms.HiddenInput)
