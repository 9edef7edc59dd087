"""Forms for the member pages in the admin. They collect input; the services decide."""

from __future__ import annotations

from django import forms

from members.models import Member, MemberGroup, RetiredCode, StatusReason
from members.pins import MAX_LENGTH, MIN_LENGTH


class PinFields(forms.Form):
    pin = forms.CharField(
        label="PIN chosen by the member",
        strip=False,
        max_length=MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
        help_text=f"{MIN_LENGTH} to {MAX_LENGTH} digits; common PINs (123456, 000000, 121212...) are refused. "
        "Let the member type it; it is never shown again.",
    )
    pin_again = forms.CharField(
        label="PIN again",
        strip=False,
        max_length=MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("pin") and data.get("pin_again") is not None and data["pin"] != data["pin_again"]:
            raise forms.ValidationError("The two PINs differ.", code="pin_mismatch")
        return data


class EnrolForm(PinFields):
    group = forms.ModelChoiceField(queryset=MemberGroup.objects.none())
    consent_version = forms.CharField(max_length=20, help_text="The version of the consent form the member agreed to.")
    age_attested = forms.BooleanField(label="The member says they are 19 or over", required=True)

    field_order = ["group", "consent_version", "age_attested", "pin", "pin_again"]

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = groups
        if groups.count() == 1:
            self.fields["group"].initial = groups.first()


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Member.Status.choices)
    # No reason chosen in advance: a coded reason left at whatever came first would be recorded
    # as the coordinator's word.
    reason = forms.ChoiceField(
        choices=[("", "Choose…"), *[(v, label) for v, label in StatusReason.choices if v not in {"enrolled", "renewed"}]]
    )


class RenewForm(forms.Form):
    consent_version = forms.CharField(
        max_length=20, required=False, help_text="Only if the member signed a new version of the consent form."
    )
    age_attested = forms.BooleanField(label="The member says they are 19 or over", required=True)


class ReissueForm(PinFields):
    reason = forms.ChoiceField(
        label="Why a new card", choices=[("", "Choose…"), *RetiredCode.Reason.choices],
        help_text="The old code stops working everywhere at once, and is never given out again.",
    )

    field_order = ["reason", "pin", "pin_again"]
