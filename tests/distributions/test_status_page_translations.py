"""The French catalogue: complete, and the committed .mo matches the .po (CI has no gettext)."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale" / "fr" / "LC_MESSAGES"


def parse_po(path: Path) -> dict[str, list[str]]:
    """msgid -> [msgstr] (or the plural forms), read with nothing but the standard library."""
    entries: dict[str, list[str]] = {}
    current: dict[str, str] = {}
    key = None

    def flush():
        if "msgid" in current and current["msgid"]:
            forms = [v for k, v in sorted(current.items()) if k.startswith("msgstr")]
            entries[current["msgid"]] = forms
        current.clear()

    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            flush()
            key = None
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            current[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            if key == "msgid" and "msgid" in current and current.get("msgid_plural") is None and any(
                k.startswith("msgstr") for k in current
            ):
                flush()
            current[key] = ast.literal_eval(value)
    return entries


def test_every_message_is_translated():
    entries = parse_po(LOCALE / "django.po")
    assert len(entries) > 30
    untranslated = [msgid for msgid, forms in entries.items() if not all(forms)]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_po_file():
    entries = parse_po(LOCALE / "django.po")
    with (LOCALE / "django.mo").open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    for msgid, forms in entries.items():
        if len(forms) == 1:
            assert catalogue.gettext(msgid) == forms[0], msgid
        else:
            assert catalogue.ngettext(msgid, msgid, 1) == forms[0], msgid
