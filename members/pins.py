"""What makes a member PIN acceptable.

A PIN is 6 to 12 digits: easy to type on any phone keypad, and with the status page's rate
limits (at most 4 PIN checks per code an hour, 108 a day, whatever the number of addresses) a
6-digit PIN has odds of about one in 9,000 a day of being guessed. PINs people pick most often are refused: one digit repeated,
runs up or down the keypad (123456, 654321, 012345), a short block repeated (121212, 123123),
mirrored halves (123321) and a short list of the most common 6-digit PINs in published leaks.
The PIN is only ever stored as a password hash (``make_password``).
"""

from __future__ import annotations

from compassionclub.errors import ServiceError

MIN_LENGTH = 6
MAX_LENGTH = 12

COMMON_PINS = frozenset(
    {
        "111222", "112233", "121212", "123123", "123321", "123654", "147258", "147852", "159357",
        "159753", "198400", "200000", "520520", "696969", "777777", "789456", "852456", "101010",
        "100000", "102030", "112211", "131313", "142536", "202020", "212121", "252525", "147369",
        "963852", "741852", "951753", "258456", "135790", "246810", "000001", "010101", "007007",
        "122333", "123000", "123465", "123457", "232323", "998877", "110110", "100100",
    }
)


def _is_run(pin: str) -> bool:
    digits = [int(c) for c in pin]
    steps = {(b - a) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    return steps in ({1}, {9})


def _is_repeated_block(pin: str) -> bool:
    n = len(pin)
    return any(n % size == 0 and pin[:size] * (n // size) == pin for size in range(1, n // 2 + 1))


def pin_validate(pin: str) -> str:
    """Return the PIN if acceptable, else raise ``ServiceError`` with a code a form can show."""
    if not isinstance(pin, str) or not pin:
        raise ServiceError("pin_missing", "Choose a PIN of 6 to 12 digits.")
    if not pin.isascii() or not pin.isdigit():
        raise ServiceError("pin_not_digits", "The PIN may only contain digits (0-9).")
    if len(pin) < MIN_LENGTH:
        raise ServiceError("pin_too_short", f"The PIN must have at least {MIN_LENGTH} digits.")
    if len(pin) > MAX_LENGTH:
        raise ServiceError("pin_too_long", f"The PIN may have at most {MAX_LENGTH} digits.")
    if _is_repeated_block(pin) or _is_run(pin) or pin == pin[::-1] or pin in COMMON_PINS:
        raise ServiceError(
            "pin_too_common",
            "That PIN is too easy to guess (repeated digits, a run like 123456, a pattern or a "
            "very common PIN). Choose another.",
        )
    return pin
