"""Grams: the one milligram constant and the one parser of an amount typed or passed in.

Every quantity in the programme is grams with three places, whole milligrams, the finest the
scales weigh to. An amount finer than that is refused, never rounded: a rounded amount is a
different amount from the one the person weighed. This module imports nothing from the apps,
so every layer may use it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from compassionclub.errors import ServiceError

MILLIGRAM = Decimal("0.001")
MG_PER_G = 1000
ZERO_GRAMS = Decimal("0.000")
# The widest amount a grams column (12 digits, 3 places) holds.
MAX_GRAMS = Decimal("999999999.999")


def to_grams(value) -> Decimal:
    """A stored amount (a Decimal, or the int or float SQLite hands back) as grams with three
    places. For values read from the database, which are whole milligrams already."""
    if value is None:
        return ZERO_GRAMS
    if not isinstance(value, Decimal):
        # The repr of a float is its shortest exact form.
        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return value.quantize(MILLIGRAM)


def parse_grams(value, *, signed: bool = False, maximum: Decimal = MAX_GRAMS) -> Decimal:
    """``value`` (a Decimal, an int or text such as "3.5") as grams with three places.

    Refuses with a ``ServiceError``: not a finite number (``grams_invalid``), finer than a
    milligram (``grams_invalid``), zero or less (``grams_not_positive``; with ``signed``, only
    zero is refused, as ``grams_zero``), more than ``maximum`` either way (``grams_too_large``).
    """
    try:
        grams = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("grams_invalid", "Enter the grams as a number, e.g. 7 or 3.5.") from None
    if not grams.is_finite():
        raise ServiceError("grams_invalid", "Enter the grams as a number, e.g. 7 or 3.5.")
    if grams != grams.quantize(MILLIGRAM):
        raise ServiceError("grams_invalid", f"{grams} g is more precise than the milligram the scales weigh to.")
    grams = grams.quantize(MILLIGRAM)
    if signed:
        if grams == 0:
            raise ServiceError("grams_zero", "An adjustment must change the stock: enter a positive or negative amount.")
    elif grams <= 0:
        raise ServiceError("grams_not_positive", "Enter an amount in grams greater than zero.")
    if abs(grams) > maximum:
        raise ServiceError("grams_too_large", f"The grams must be at most {maximum}.")
    return grams
