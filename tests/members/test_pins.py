from __future__ import annotations

import pytest

from compassionclub.errors import ServiceError
from members.pins import pin_validate


@pytest.mark.parametrize("pin", ["482915", "90817263", "730194", "100393"])
def test_it_accepts_pins_that_are_not_common(pin):
    assert pin_validate(pin) == pin


@pytest.mark.parametrize(
    ("pin", "code"),
    [
        ("", "pin_missing"),
        ("12345", "pin_too_short"),
        ("48291", "pin_too_short"),
        ("4829a5", "pin_not_digits"),
        ("48 915", "pin_not_digits"),
        ("४८२९१५", "pin_not_digits"),
        ("1234567890123", "pin_too_long"),
        ("123456", "pin_too_common"),
        ("000000", "pin_too_common"),
        ("999999", "pin_too_common"),
        ("654321", "pin_too_common"),
        ("012345", "pin_too_common"),
        ("890123", "pin_too_common"),
        ("121212", "pin_too_common"),
        ("123123", "pin_too_common"),
        ("123321", "pin_too_common"),
        ("112233", "pin_too_common"),
        ("696969", "pin_too_common"),
        ("1234567890", "pin_too_common"),
    ],
)
def test_it_refuses_short_common_and_patterned_pins(pin, code):
    with pytest.raises(ServiceError) as exc:
        pin_validate(pin)
    assert exc.value.code == code
