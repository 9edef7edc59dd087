"""Member codes: random, unguessable, with a check character that catches typos.

A code is 11 random symbols from Crockford's base-32 alphabet (55 bits from the operating
system's CSPRNG) followed by one check symbol computed with the Luhn mod N algorithm over the
same alphabet. Luhn mod N detects every single-symbol substitution and every transposition of
two adjacent distinct symbols except one pair. The alphabet leaves out I, L, O and U, and
``normalise_code`` maps the look-alikes back, so a code read aloud or copied from a card lands
on the same symbols. Codes are shown in groups of four: ``ABCD-EFGH-JKMN``.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
N = len(ALPHABET)
RANDOM_LENGTH = 11
CODE_LENGTH = RANDOM_LENGTH + 1
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def check_symbol(body: str) -> str:
    """Luhn mod N check symbol for ``body`` (already normalised)."""
    factor = 2
    total = 0
    for ch in reversed(body):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // N + addend % N
    return ALPHABET[(N - total % N) % N]


def generate_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_symbol(body)


def normalise_code(raw: str) -> str:
    """Upper-case, drop spaces and dashes, map look-alike letters to digits."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t").translate(_LOOKALIKES)


def is_valid_code(raw: str) -> bool:
    code = normalise_code(raw)
    if len(code) != CODE_LENGTH or any(ch not in _INDEX for ch in code):
        return False
    return check_symbol(code[:-1]) == code[-1]


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
