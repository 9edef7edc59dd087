"""Figures as a member reads them: 10.5 g, not 10.500 g."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.formats import number_format

from compassionclub.quantities import MILLIGRAM

register = template.Library()


@register.filter
def grams(value) -> str:
    """Grams without trailing zeros, in the page's language (10.5 in English, 10,5 in French)."""
    try:
        amount = Decimal(str(value)).quantize(MILLIGRAM)
    except (InvalidOperation, ValueError, TypeError):
        return ""
    places = max(0, -amount.normalize().as_tuple().exponent)
    return number_format(amount, decimal_pos=places, use_l10n=True)


@register.filter
def named(name: str, names: dict) -> str:
    """A substance's name in the page's language: its translation if there is one, else as stored."""
    return (names or {}).get(name) or name
