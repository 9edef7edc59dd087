"""The benchmark sits on top of the product: it imports the apps, and none of them imports it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("compassionclub", "members", "testing_results", "distributions")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_product_module_imports_the_benchmark():
    offenders = [
        str(path.relative_to(ROOT))
        for app in PRODUCT
        for path in (ROOT / app).rglob("*.py")
        if any(name == "bench" or name.startswith("bench.") for name in _imported_modules(path))
    ]
    assert offenders == []
