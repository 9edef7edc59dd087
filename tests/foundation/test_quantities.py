"""One parser for grams: refuse, never round."""

from __future__ import annotations

from decimal import Decimal

import pytest

from compassionclub.errors import ServiceError
from compassionclub.quantities import MILLIGRAM, parse_grams, to_grams


@pytest.mark.parametrize(("value", "grams"), [("3.5", "3.500"), (" 7 ", "7.000"), (Decimal("0.001"), "0.001"), (2, "2.000")])
def test_it_reads_grams_to_the_milligram(value, grams):
    assert parse_grams(value) == Decimal(grams)
    assert parse_grams(value).as_tuple().exponent == MILLIGRAM.as_tuple().exponent


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("lots", "grams_invalid"), ("", "grams_invalid"), (None, "grams_invalid"), ("NaN", "grams_invalid"),
        ("Infinity", "grams_invalid"), ("1.0005", "grams_invalid"), (Decimal("0.0001"), "grams_invalid"),
        ("0", "grams_not_positive"), ("-1", "grams_not_positive"), ("1000000000", "grams_too_large"),
    ],
)
def test_it_refuses_rather_than_rounds(value, code):
    with pytest.raises(ServiceError) as refused:
        parse_grams(value)
    assert refused.value.code == code


def test_signed_amounts_refuse_only_zero_and_a_maximum_is_kept_either_way():
    assert parse_grams("-2.5", signed=True) == Decimal("-2.500")
    with pytest.raises(ServiceError) as refused:
        parse_grams("0.000", signed=True)
    assert refused.value.code == "grams_zero"
    with pytest.raises(ServiceError) as refused:
        parse_grams("-11", signed=True, maximum=Decimal("10"))
    assert refused.value.code == "grams_too_large"


def test_stored_values_read_back_as_grams_with_three_places():
    assert to_grams(None) == Decimal("0.000")
    assert to_grams(3.5) == Decimal("3.500") and to_grams(0.1) == Decimal("0.100")
    assert to_grams(7) == Decimal("7.000")
