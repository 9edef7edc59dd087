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


class VisitForm(forms.Form):
    """One visit: for each substance on the member's panel a batch (``batch_<substance id>``)
    and the grams of it (``grams_<substance id>``); a substance whose grams are left empty is
    not part of the visit. The lines are recorded together by ``visit_record``, or none is."""

    code = MemberCodeField(widget=forms.HiddenInput)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    # Which field of a line a service refusal belongs to; other codes are shown above the form.
    ERROR_FIELDS = {
        "over_allowance": "grams",
        "insufficient_stock": "grams",
        "grams_not_positive": "grams",
        "grams_invalid": "grams",
        "batch_not_released": "batch",
        "batch_recalled": "batch",
        "batch_on_hold": "batch",
    }
    MAX_LINES = 20

    def __init__(self, *args, substance_ids: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.substance_ids = list(substance_ids)[: self.MAX_LINES]
        self.lines: list[tuple[int, Batch, object]] = []
        for sid in self.substance_ids:
            # Any batch is accepted here so that a batch recalled, held or emptied since the
            # page was shown reaches the service, which refuses it with its own message.
            self.fields[f"batch_{sid}"] = forms.ModelChoiceField(
                queryset=Batch.objects.select_related("substance"), required=False,
                error_messages={"invalid_choice": "That batch does not exist. Choose one from the list."},
            )
            self.fields[f"grams_{sid}"] = forms.DecimalField(
                required=False, max_digits=9, decimal_places=3,
                error_messages={"invalid": "Enter the grams as a number, e.g. 3.5."},
            )

    @staticmethod
    def substance_ids_in(data) -> list[int]:
        """The substances a posted visit has lines for, read from its field names."""
        ids = []
        for name in data:
            prefix, _, number = name.partition("_")
            if prefix == "grams" and number.isdigit() and len(number) < 10:
                ids.append(int(number))
        return sorted(set(ids))

    def clean(self):
        data = super().clean()
        for sid in self.substance_ids:
            grams, batch = data.get(f"grams_{sid}"), data.get(f"batch_{sid}")
            if grams is None:
                continue  # empty, or already an error of its own
            if batch is None:
                if f"batch_{sid}" not in self.errors:
                    self.add_error(f"batch_{sid}", "Choose a batch.")
            elif batch.substance_id != sid:
                self.add_error(f"batch_{sid}", f"{batch.code} is {batch.substance.name}, not this substance.")
            else:
                self.lines.append((sid, batch, grams))
        if not self.lines and not self.errors:
            raise ValidationError("Enter the grams of at least one substance.", code="visit_empty")
        return data

    def add_service_error(self, error) -> None:
        batch_id = getattr(error, "details", {}).get("batch_id")
        line = next(((sid, batch) for sid, batch, _grams in self.lines if batch.pk == batch_id), None)
        field = self.ERROR_FIELDS.get(getattr(error, "code", ""))
        if line is None or field is None:
            self.add_error(None, error)
            return
        sid, batch = line
        if field == "batch":
            # The refused batch may no longer be listed (a recall takes it off the page), so
            # say which one the service refused.
            error = ValidationError(f"{batch.code}: {error}", code=error.code)
        self.add_error(f"{field}_{sid}", error)


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


class ReplacementForm(forms.Form):
    """A replacement for one recalled distribution: which released batch, how many grams."""

    code = MemberCodeField(widget=forms.HiddenInput)
    distribution = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    batch = forms.ModelChoiceField(
        queryset=Batch.objects.select_related("substance"),
        empty_label=None,
        error_messages={"required": "Choose a batch.", "invalid_choice": "That batch does not exist."},
    )
    grams = forms.DecimalField(max_digits=9, decimal_places=3, error_messages={"required": "Enter the grams."})
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
