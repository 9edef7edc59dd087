from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class StatusLookupForm(forms.Form):
    code = forms.CharField(
        label=_("Member code"),
        max_length=20,
        help_text=_("The code on your card, for example ABCD-EFGH-JKMN."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )
    pin = forms.CharField(
        label=_("PIN"),
        max_length=12,
        strip=False,
        # Members often share or borrow phones: no browser should offer to keep the PIN.
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
