"""Member codes: a single mistyped character is always caught."""

from __future__ import annotations

from members.codes import ALPHABET, CODE_LENGTH, format_code, generate_code, is_valid_code, normalise_code


def test_generated_codes_are_valid_and_distinct():
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == CODE_LENGTH and is_valid_code(c) for c in codes)


def test_every_single_character_substitution_is_detected():
    sample = [generate_code() for _ in range(40)]
    sample += ["00000000000" + "0", "ZZZZZZZZZZZ" + "0"]
    checked = 0
    for code in sample:
        if not is_valid_code(code):
            code = code[:-1] + next(c for c in ALPHABET if is_valid_code(code[:-1] + c))
        for position in range(CODE_LENGTH):
            for symbol in ALPHABET:
                if symbol == code[position]:
                    continue
                typo = code[:position] + symbol + code[position + 1 :]
                assert not is_valid_code(typo), (code, typo)
                checked += 1
    assert checked == len(sample) * CODE_LENGTH * (len(ALPHABET) - 1)


def test_adjacent_transpositions_are_nearly_always_detected():
    missed = 0
    total = 0
    for _ in range(200):
        code = generate_code()
        for i in range(CODE_LENGTH - 1):
            if code[i] == code[i + 1]:
                continue
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            total += 1
            missed += is_valid_code(swapped)
    # Luhn mod N misses only transpositions of one pair of symbols.
    assert missed / total < 0.01


def test_look_alikes_spaces_and_dashes_are_forgiven():
    code = generate_code()
    typed = format_code(code).lower().replace("0", "o").replace("1", "l")
    assert normalise_code(typed) == code
    assert is_valid_code(typed)


def test_wrong_length_and_foreign_characters_are_invalid():
    code = generate_code()
    assert not is_valid_code(code[:-1])
    assert not is_valid_code(code + "0")
    assert not is_valid_code(code[:-1] + "U")
    assert not is_valid_code("")
