"""The label text written onto a batch when it is released."""

from __future__ import annotations

from decimal import Decimal

from testing_results.rules import ABSENT, PRESENT, Capabilities, Evidence, Fact, M, class_name, method_name

# Purity is taken from mass spectrometry when it quantified the compound, else from FTIR.
_PURITY_PREFERENCE = {M.MASS_SPEC: 0, M.FTIR: 1, M.IMMUNOASSAY: 2}
LABEL_CLASSES = ("fentanyl", "benzodiazepine")


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f} %" if value == value.to_integral() else f"{value.quantize(Decimal('0.1'))} %"


def _best_measure(facts: list[Fact]) -> Fact | None:
    quantified = [f for f in facts if f.result in PRESENT and f.concentration_pct is not None]
    if not quantified:
        return None
    # Preferred method first, then the most recent check.
    return min(quantified, key=lambda f: (_PURITY_PREFERENCE.get(f.method, 3), -f.performed_at.timestamp(), -f.check_id))


def _also_found(evidence: Evidence, name, pct) -> list[str]:
    """Every other compound found, by ``name``, with its best measure where one was made."""
    others: dict[int, list[Fact]] = {}
    for f in evidence.facts:
        if f.compound_id != evidence.expected_compound_id and f.result in PRESENT:
            others.setdefault(f.compound_id, []).append(f)
    also = []
    for found in sorted(others.values(), key=lambda fs: name(fs[0]).lower()):
        measure = _best_measure(found)
        also.append(f"{name(found[0])} {pct(measure.concentration_pct)}" if measure else name(found[0]))
    return also


def _found_by(evidence: Evidence, caps: Capabilities, drug_class: str, *, method_label, limit_text, below: str,
              unrecorded: str) -> str:
    """The "not detected" in numbers: each method that can see the class and reported it
    absent, with the limits it is below (``unrecorded`` where none was recorded)."""
    seen: dict[str, set[str]] = {}
    for f in evidence.facts:
        if f.drug_class == drug_class and f.result in ABSENT and caps.rules_out(f.method, drug_class):
            seen.setdefault(method_label(f.method), set()).add(f.below)
    parts = []
    for method in sorted(seen):
        limits = sorted(limit_text(b) for b in seen[method] if b)
        parts.append(f"{method}, {below} {' / '.join(limits)}" if limits else f"{method} ({unrecorded})")
    return "; ".join(parts)


def label_text(*, substance_name: str, evidence: Evidence, caps: Capabilities) -> str:
    expected = [f for f in evidence.facts if f.compound_id == evidence.expected_compound_id]
    best = _best_measure(expected)
    if best is not None:
        purity = f"{evidence.expected_compound_name} {_pct(best.concentration_pct)} ({method_name(best.method, caps).lower()})"
    else:
        purity = f"{evidence.expected_compound_name} present, not quantified"
    also = _also_found(evidence, lambda fact: fact.compound_name, _pct)
    lines = [
        f"Batch {evidence.batch_code}: {substance_name}",
        f"Measured purity: {purity}",
        f"Also found: {', '.join(also) if also else 'nothing else'}",
    ]
    for drug_class in LABEL_CLASSES:
        found_by = _found_by(evidence, caps, drug_class, method_label=lambda m: method_name(m, caps), limit_text=str,
                             below="below", unrecorded="limit not recorded")
        lines.append(f"No {class_name(drug_class)} found by: {found_by or 'no method that can see them'}")
    return "\n".join(lines)


# The same label in French, generated at release beside the English one, for members who read
# the status page in French. Names of compounds and the substance come from their ``name_fr``
# (the English name when there is none).
_METHOD_FR = {M.FTIR: "spectrométrie FTIR", M.MASS_SPEC: "spectrométrie de masse", M.IMMUNOASSAY: "bandelette de test"}
_NONE_FOUND_FR = {"fentanyl": "Aucun fentanyl ni analogue trouvé par", "benzodiazepine": "Aucune benzodiazépine trouvée par"}


def _pct_fr(value: Decimal) -> str:
    return _pct(value).replace(".", ",")


def label_text_fr(
    *, substance_name: str, evidence: Evidence, caps: Capabilities, compound_names: dict[int, str]
) -> str:
    def name(fact: Fact) -> str:
        return compound_names.get(fact.compound_id) or fact.compound_name

    expected = [f for f in evidence.facts if f.compound_id == evidence.expected_compound_id]
    expected_name = compound_names.get(evidence.expected_compound_id) or evidence.expected_compound_name
    best = _best_measure(expected)
    if best is not None:
        purity = f"{expected_name} {_pct_fr(best.concentration_pct)} ({_METHOD_FR.get(best.method, method_name(best.method))})"
    else:
        purity = f"{expected_name} présent, non quantifié"
    also = _also_found(evidence, name, _pct_fr)
    lines = [
        f"Lot {evidence.batch_code} : {substance_name}",
        f"Pureté mesurée : {purity}",
        f"Trouvé aussi : {', '.join(also) if also else 'rien d’autre'}",
    ]
    for drug_class in LABEL_CLASSES:
        found_by = _found_by(evidence, caps, drug_class, method_label=lambda m: _METHOD_FR.get(m, method_name(m, caps)),
                             limit_text=lambda b: b.replace(".", ","), below="sous", unrecorded="limite non enregistrée")
        lines.append(f"{_NONE_FOUND_FR[drug_class]} : {found_by or 'aucune méthode capable de les voir'}")
    return "\n".join(lines)
