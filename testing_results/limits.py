"""Numeric detection limits: what "not detected" means, in numbers.

A spectrum's "not detected" means "below" the lowest concentration the method reports for that
compound (% by weight), read from ``DetectionLimit``: the most specific row wins (this
instrument before the method; a compound before its class before anything). A strip's negative
means "below" its lot's cut-off (ng/mL in the prepared solution). Where nothing is recorded the
text says so rather than implying a number.

The floor is code: FTIR cannot see below about 5 % (Drug Checking BC; FIELD-NOTES.md), so no
FTIR limit under ``FLOOR_PCT["ftir"]`` is accepted (also a database constraint).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

FLOOR_PCT = {"ftir": Decimal("5")}


def pct_text(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def ng_text(value: Decimal) -> str:
    return f"{value.normalize():f} ng/mL"


@dataclass(frozen=True)
class LimitRow:
    method: str
    instrument_id: int | None
    compound_id: int | None
    drug_class: str
    limit_pct: Decimal


class LimitTable:
    """Every recorded limit, looked up without further queries."""

    def __init__(self, rows: Iterable[LimitRow]) -> None:
        self._rows = {(r.method, r.instrument_id, r.compound_id, r.drug_class): r.limit_pct for r in rows}

    def pct(self, method: str, instrument_id: int | None, compound_id: int, drug_class: str) -> Decimal | None:
        for instrument in ([instrument_id] if instrument_id else []) + [None]:
            for key in ((compound_id, ""), (None, drug_class), (None, "")):
                found = self._rows.get((method, instrument, *key))
                if found is not None:
                    return found
        return None

    def below(self, *, method: str, strip: bool, instrument_id: int | None, cutoff_ng_ml: Decimal | None,
              compound_id: int, drug_class: str) -> str:
        """"20 ng/mL", "0.05 %", or "" when no limit is recorded."""
        if strip:
            return ng_text(cutoff_ng_ml) if cutoff_ng_ml else ""
        limit = self.pct(method, instrument_id, compound_id, drug_class)
        return pct_text(limit) if limit is not None else ""


def absent_text(result_label: str, below: str) -> str:
    """How a "not detected" or negative result reads everywhere: "below 20 ng/mL"."""
    return f"below {below}" if below else f"{result_label.lower()} (no limit recorded)"


def finding_result_text(finding, check, limits: LimitTable | None) -> str:
    """One finding's result as shown on the batch page and in the PDF: "detected", "invalid",
    or for an absent result "below 20 ng/mL" (or "not detected (no limit recorded)")."""
    label = str(finding.get_result_display())
    if finding.result not in ("not_detected", "negative"):
        return label.lower()
    strip = check.strip_lot_id is not None
    cutoff = check.strip_lot.cutoff_ng_ml if strip else None
    below = (limits or LimitTable(())).below(
        method=check.method_id, strip=strip, instrument_id=check.instrument_id, cutoff_ng_ml=cutoff,
        compound_id=finding.compound_id, drug_class=finding.compound.drug_class,
    )
    return absent_text(label, below)
