"""Every code a service refuses with is in the registry, and the registry holds no code that
nothing raises. Read from the source, so a new code cannot slip past."""

from __future__ import annotations

import ast
from pathlib import Path

from compassionclub.error_codes import ERROR_CODES
from compassionclub.errors import NOT_PERMITTED

ROOT = Path(__file__).resolve().parents[2]
APPS = ("compassionclub", "members", "testing_results", "distributions", "bench")
# Calls whose first argument is a refusal code: the exception itself, and eligibility's
# reasons, which distribution_record raises as they are.
CODE_CALLS = {"ServiceError", "Reason"}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def raised_codes() -> tuple[dict[str, set[str]], list[str]]:
    """Codes by where they are raised, and the calls whose code is not written out."""
    codes: dict[str, set[str]] = {}
    unread: list[str] = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(), filename=where)):
                if not isinstance(node, ast.Call):
                    continue
                name = _name(node.func)
                if name == "not_permitted":
                    codes.setdefault(NOT_PERMITTED, set()).add(where)
                if name not in CODE_CALLS:
                    continue
                code = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    codes.setdefault(code.value, set()).add(where)
                elif isinstance(code, ast.Name) and code.id == "NOT_PERMITTED":
                    codes.setdefault(NOT_PERMITTED, set()).add(where)
                elif isinstance(code, ast.Attribute) and code.attr == "code":
                    continue  # passes on the code of a reason or error already read here
                else:
                    unread.append(f"{where}:{node.lineno}")
    return codes, unread


def test_every_code_raised_is_in_the_registry_with_its_meaning():
    codes, unread = raised_codes()
    assert unread == [], "a ServiceError whose code is not a literal: write the code out"
    missing = {code: sorted(where) for code, where in codes.items() if code not in ERROR_CODES}
    assert missing == {}, "add these codes to compassionclub/error_codes.py with what they mean"
    assert all(meaning.strip() for meaning in ERROR_CODES.values())


def test_the_registry_lists_no_code_that_nothing_raises():
    codes, _ = raised_codes()
    assert set(ERROR_CODES) - set(codes) == set()


def test_a_missing_permission_has_one_code():
    codes, _ = raised_codes()
    assert {"permission_denied", "not_allowed"} & set(codes) == set()
