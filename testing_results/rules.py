"""The release rule, in one place.

``assess`` takes what the checks found (``Evidence``) and the capability table and returns every
blocker, each with a plain-language message; ``testing_results.services`` loads the evidence,
calls it, and refuses a release unless it comes back empty. Nothing else decides whether a
batch may go to members.

The rule (DESIGN.md, "testing_results"):

1. at least one check of every method;
2. the substance's expected active compound confirmed (detected) by FTIR and by mass spectrometry;
3. no harmful compound detected (or strip positive) by any method, in any check;
4. every required result present and negative: fentanyl and benzodiazepine strips always, plus
   whatever programme admins require in ``MethodCapability``. Of several results by one method
   for one class, the latest decides whether it is "missing or invalid" (a repeated strip after
   an invalid one counts); a positive anywhere is already rule 3, and a class in which a
   harmful compound was found is not asked for (it is blocked by rule 3: the batch is rejected);
5. fentanyl (and analogues), benzodiazepines and nitazenes ruled out, i.e. reported absent by a
   method that can see them at the levels that kill. FTIR's detection limit is about 5 %,
   so its "not detected" never counts for these classes, whatever the table says. A class in
   which a harmful compound was found is already blocked by rule 3 and not listed again;
6. every compound on the watch list (a public drug alert) ruled out the same way, compound by
   compound (a strip covers its whole class, a spectrum only the compound it reports);
7. the releasing user entered none of the checks (two-person rule);
8. every result was produced within the validity of what produced it: a strip lot before its
   expiry (``strip_lot_expired``), an instrument before its verification fell due
   (``instrument_not_verified``), and the "unrecorded" stand-ins given to checks recorded before
   instruments and lots were kept only for checks performed before then (``source_unrecorded``).
   ``services.check_record`` refuses a lot or instrument out of date when the check is recorded;
   the rule catches results whose validity is judged again later (a backdated due date, say).
   A check that found a harmful compound is not listed here: its finding stands (rule 3), and
   "cannot be trusted, retest" beside "found" would read as a way to clear it.

So the list never contradicts itself: a compound found is said once, as found.

An invalidated check is no evidence at all: ``selectors.release_evidence`` leaves it out, so it
neither blocks nor clears anything (its entrant still counts for the two-person rule).

Programme admins tighten the rule in ``MethodCapability``; the floor below (``FTIR_BLIND``,
``REQUIRED_FLOOR``, ``MUST_RULE_OUT``) is code and cannot be loosened from the admin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from testing_results.limits import FLOOR_PCT
from testing_results.models import Compound, DrugCheck, Finding

M = DrugCheck.Method
D = Compound.DrugClass
R = Finding.Result

FTIR_BLIND = frozenset({D.FENTANYL, D.NITAZENE, D.BENZODIAZEPINE})
REQUIRED_FLOOR = frozenset({(M.IMMUNOASSAY, D.FENTANYL), (M.IMMUNOASSAY, D.BENZODIAZEPINE)})
MUST_RULE_OUT = (D.FENTANYL, D.BENZODIAZEPINE, D.NITAZENE)
# A recorded limit this coarse (FTIR's floor) cannot rule out the classes FTIR is blind to.
POTENT_LIMIT_PCT = FLOOR_PCT[M.FTIR]

ABSENT = frozenset({R.NOT_DETECTED, R.NEGATIVE})
PRESENT = frozenset({R.DETECTED, R.POSITIVE})
SPECTRUM, STRIP = "spectrum", "strip"
RESULTS_FOR_KIND = {
    SPECTRUM: frozenset({R.DETECTED, R.NOT_DETECTED}),
    STRIP: frozenset({R.POSITIVE, R.NEGATIVE, R.INVALID}),
}


@dataclass(frozen=True)
class MethodInfo:
    """What the rule and the check form need about a method (``models.Method``)."""

    code: str
    name: str
    kind: str
    quantifies: bool
    required: bool


# The seeded methods as the floor fixes them: their kind, whether a concentration may be given
# (mass spectrometry only), and that a batch always needs a check by each.
BUILT_IN_METHODS = {
    M.FTIR: MethodInfo(M.FTIR, str(M.FTIR.label), SPECTRUM, False, True),
    M.MASS_SPEC: MethodInfo(M.MASS_SPEC, str(M.MASS_SPEC.label), SPECTRUM, True, True),
    M.IMMUNOASSAY: MethodInfo(M.IMMUNOASSAY, str(M.IMMUNOASSAY.label), STRIP, False, True),
}
RESULTS_FOR_METHOD = {code: RESULTS_FOR_KIND[info.kind] for code, info in BUILT_IN_METHODS.items()}

# (method, class) -> (can_rule_out, required, note). Seeded into MethodCapability by migration
# 0003; a (method, class) pair missing from the table cannot rule anything out.
DEFAULT_CAPABILITIES: dict[tuple[str, str], tuple[bool, bool, str]] = {
    **{
        (M.FTIR, c): (c not in FTIR_BLIND and c != D.ALPHA2_AGONIST, False,
                      f"FTIR sees about {FLOOR_PCT[M.FTIR].normalize():f} % and up: too coarse for compounds that kill at traces.")
        for c in D.values
    },
    **{(M.MASS_SPEC, c): (True, False, "Mass spectrometry quantifies down to traces.") for c in D.values},
    **{
        (M.IMMUNOASSAY, c): (
            c in {D.FENTANYL, D.BENZODIAZEPINE, D.NITAZENE, D.XYLAZINE},
            (M.IMMUNOASSAY, c) in REQUIRED_FLOOR,
            "A strip only answers for the class it is made for.",
        )
        for c in D.values
    },
}


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str
    subject: str = ""  # harmful_detected: the compound found


# Blockers that say who may release rather than whether the batch is safe: shown to the person
# they concern as information, not as a red "blocked".
PERSONAL = frozenset({"checker_cannot_release"})


@dataclass(frozen=True)
class Assessment:
    releasable: bool
    blockers: list[Blocker]

    @property
    def codes(self) -> list[str]:
        return [b.code for b in self.blockers]

    @property
    def found(self) -> list[str]:
        """Harmful compounds found: the batch must be rejected, never released."""
        return [b.subject for b in self.blockers if b.code == "harmful_detected"]

    @property
    def safety_blockers(self) -> list[Blocker]:
        return [b for b in self.blockers if b.code not in PERSONAL]

    @property
    def notes(self) -> list[Blocker]:
        return [b for b in self.blockers if b.code in PERSONAL]


@dataclass(frozen=True)
class Fact:
    """One finding with what the rule needs about its check and compound."""

    check_id: int
    method: str
    performed_at: dt.datetime
    performed_by_id: int
    compound_id: int
    compound_name: str
    category: str
    drug_class: str
    result: str
    concentration_pct: Decimal | None
    below: str = ""  # a "not detected" or negative: the limit it is below ("20 ng/mL", "0.05 %"), if recorded
    limit_pct: Decimal | None = None  # a spectrum's "not detected": the recorded limit it is below (% by weight)


@dataclass(frozen=True)
class Capabilities:
    can_rule_out: frozenset[tuple[str, str]]
    required: frozenset[tuple[str, str]]
    methods: dict[str, MethodInfo] = field(default_factory=lambda: dict(BUILT_IN_METHODS))

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str, str, bool, bool]], methods: Iterable[MethodInfo] = ()
    ) -> Capabilities:
        """The floor is applied here, whatever the tables say: FTIR never rules out the potent
        classes, the fentanyl and benzodiazepine strips are required, and the seeded methods
        keep their kind and stay required."""
        rows = list(rows)
        can = {(m, c) for m, c, ok, _req in rows if ok and not (m == M.FTIR and c in FTIR_BLIND)}
        required = {(m, c) for m, c, _ok, req in rows if req} | set(REQUIRED_FLOOR)
        known = {info.code: info for info in methods}
        for code, floor in BUILT_IN_METHODS.items():
            name = known[code].name if code in known else floor.name
            known[code] = MethodInfo(code, name, floor.kind, floor.quantifies, True)
        return cls(frozenset(can), frozenset(required), known)

    def rules_out(self, method: str, drug_class: str) -> bool:
        return (method, drug_class) in self.can_rule_out

    def info(self, method: str) -> MethodInfo:
        return self.methods.get(method) or MethodInfo(method, method, SPECTRUM, False, False)

    def is_strip(self, method: str) -> bool:
        return self.info(method).kind == STRIP

    def name(self, method: str) -> str:
        """The method's name mid-sentence: "FTIR spectrometry", "mass spectrometry", "HPLC"."""
        label = self.info(method).name
        return label if label[:2].isupper() else label[0].lower() + label[1:]

    @property
    def required_methods(self) -> list[str]:
        return [code for code, info in self.methods.items() if info.required]


DEFAULT_CAPS = Capabilities(frozenset(), frozenset(REQUIRED_FLOOR))


@dataclass(frozen=True)
class WatchedCompound:
    id: int
    name: str
    drug_class: str


@dataclass(frozen=True)
class CheckSource:
    """What produced one (valid) check: its strip lot or instrument and their validity."""

    check_id: int
    method: str
    performed_at: dt.datetime
    name: str = ""
    valid_until: dt.date | None = None  # lot expiry or instrument verification due date
    unrecorded_before: dt.datetime | None = None


@dataclass(frozen=True)
class Evidence:
    batch_code: str
    expected_compound_id: int
    expected_compound_name: str
    facts: list[Fact]
    watch_list: list[WatchedCompound] = field(default_factory=list)
    checked_methods: frozenset[str] = frozenset()
    checkers: frozenset[int] = frozenset()
    sources: list[CheckSource] = field(default_factory=list)


def method_name(method: str, caps: Capabilities | None = None) -> str:
    """The method's name mid-sentence: "FTIR spectrometry", "mass spectrometry"."""
    return (caps or DEFAULT_CAPS).name(method)


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def class_name(drug_class: str) -> str:
    return {
        D.FENTANYL: "fentanyl or its analogues",
        D.BENZODIAZEPINE: "benzodiazepines",
        D.NITAZENE: "nitazenes",
    }.get(drug_class, str(D(drug_class).label).lower())


def too_coarse(fact: Fact, drug_class: str) -> bool:
    """A "not detected" whose recorded limit (this instrument's, else the method's; for this
    compound, else its class) is at or above the floor FTIR is held to (5 %) is as blind to the
    classes that kill at traces as FTIR is: it rules none of them out, whatever the capability
    table grants. A limit never makes a method see more than the table grants."""
    return drug_class in FTIR_BLIND and fact.limit_pct is not None and fact.limit_pct >= POTENT_LIMIT_PCT


def rules_out(fact: Fact, drug_class: str, caps: Capabilities) -> bool:
    """Whether this absent result counts for ``drug_class``: the method is trusted for it (the
    capability table, within the floor) and its recorded limit is fine enough."""
    return fact.result in ABSENT and caps.rules_out(fact.method, drug_class) and not too_coarse(fact, drug_class)


def rules_out_compound(fact: Fact, compound_id: int, drug_class: str, caps: Capabilities) -> bool:
    """Does this finding show ``compound`` absent at dangerous levels? A strip answers for its
    whole class; a spectrum only for the compound it names."""
    if not rules_out(fact, drug_class, caps):
        return False
    if caps.is_strip(fact.method):
        return fact.drug_class == drug_class
    return fact.compound_id == compound_id


def strip_word(drug_class: str) -> str:
    """"fentanyl", "benzodiazepine": what a strip for the class is called ("a fentanyl strip")."""
    return {D.FENTANYL: "fentanyl", D.BENZODIAZEPINE: "benzodiazepine", D.NITAZENE: "nitazene",
            D.XYLAZINE: "xylazine"}.get(drug_class, str(D(drug_class).label).lower())


def assess(evidence: Evidence, caps: Capabilities, releasing_user_id: int | None = None) -> Assessment:
    facts = evidence.facts
    harmful = _harmful_found(facts, caps)
    # A class found is never also "not ruled out", nor asked for a strip; a check that found a
    # harmful compound is not asked to be retested (its finding stands: the batch is rejected).
    found_classes = {f.drug_class for f in facts if f.category == Compound.Category.HARMFUL and f.result in PRESENT}
    found_by = {f.check_id for f in facts if f.category == Compound.Category.HARMFUL and f.result in PRESENT}
    # Required results with none at all: each is said once, as the result to record, so the list
    # does not also say "no check by this method" or "nothing has ruled this class out".
    missing = {
        (method, drug_class) for method, drug_class in caps.required
        if drug_class not in found_classes and not any(f.method == method and f.drug_class == drug_class for f in facts)
    }
    blockers = [
        *_methods_missing(evidence, caps, missing),
        *_expected_not_confirmed(evidence, caps),
        *_harmful_detected(harmful),
        *_required_results(facts, caps, found_classes),
        *_classes_not_ruled_out(facts, caps, found_classes, missing),
        *_watch_list_not_ruled_out(evidence, caps, harmful),
        *_sources_out_of_date(evidence, caps, found_by),
        *_checker_releasing(evidence, releasing_user_id),
    ]
    return Assessment(releasable=not blockers, blockers=blockers)


def _methods_missing(evidence: Evidence, caps: Capabilities, missing: set[tuple[str, str]]) -> list[Blocker]:
    """1. every required method (the seeded three always). FTIR and mass spectrometry say here
    what they must confirm (rule 2 is not said again); a strip method with required strips
    missing is left to rule 4's line per class."""
    blockers = []
    for method in caps.required_methods:
        if method in evidence.checked_methods or (caps.is_strip(method) and any(m == method for m, _c in missing)):
            continue
        confirm = f"; it must confirm the expected compound, {evidence.expected_compound_name}" if method in (M.FTIR, M.MASS_SPEC) else ""
        blockers.append(Blocker("method_missing", f"No valid {caps.name(method)} check is recorded{confirm}."))
    return blockers


def _expected_not_confirmed(evidence: Evidence, caps: Capabilities) -> list[Blocker]:
    """2. the expected compound confirmed by FTIR and by mass spectrometry (by a check of the
    method at all: a method never checked is rule 1's line)"""
    blockers = []
    for method in (M.FTIR, M.MASS_SPEC):
        if method not in evidence.checked_methods:
            continue
        confirmed = any(
            f.method == method and f.compound_id == evidence.expected_compound_id and f.result == R.DETECTED
            for f in evidence.facts
        )
        if not confirmed:
            blockers.append(Blocker(
                "expected_not_confirmed",
                f"{_cap(caps.name(method))} has not confirmed the expected compound, {evidence.expected_compound_name}.",
            ))
    return blockers


def _harmful_found(facts: list[Fact], caps: Capabilities) -> dict[int, tuple[str, list[str]]]:
    """Each harmful compound detected: its name and the methods that found it."""
    harmful: dict[int, tuple[str, list[str]]] = {}
    for f in facts:
        if f.category == Compound.Category.HARMFUL and f.result in PRESENT:
            name, methods = harmful.setdefault(f.compound_id, (f.compound_name, []))
            if caps.name(f.method) not in methods:
                methods.append(caps.name(f.method))
    return harmful


def _harmful_detected(harmful: dict[int, tuple[str, list[str]]]) -> list[Blocker]:
    """3. no harmful compound detected anywhere"""
    return [
        Blocker("harmful_detected", f"{name} was found ({', '.join(methods)}). A batch with a harmful compound is never released.",
                subject=name)
        for name, methods in sorted(harmful.values())
    ]


def _required_results(facts: list[Fact], caps: Capabilities, found_classes: set[str]) -> list[Blocker]:
    """4. required results present, and the latest of each one valid"""
    blockers = []
    for method, drug_class in sorted(caps.required):
        if drug_class in found_classes:
            continue
        results = sorted(
            (f for f in facts if f.method == method and f.drug_class == drug_class),
            key=lambda f: (f.performed_at, f.check_id),
        )
        strip = caps.is_strip(method)
        what = f"{strip_word(drug_class)} strip" if strip else f"{caps.name(method)} result for {class_name(drug_class)}"
        if not results:
            code = "strip_missing" if strip else "result_missing"
            blockers.append(Blocker(code, f"There is no {what}; one is required before release."))
        elif results[-1].result == R.INVALID:
            blockers.append(Blocker(
                "strip_invalid",
                f"The latest {what} is invalid. An invalid strip is not a negative: repeat the strip.",
            ))
    return blockers


def _classes_not_ruled_out(
    facts: list[Fact], caps: Capabilities, found_classes: set[str], missing: set[tuple[str, str]]
) -> list[Blocker]:
    """5. the potent classes ruled out by a method that can see them"""
    blockers = []
    for drug_class in MUST_RULE_OUT:
        if drug_class in found_classes:
            continue  # already blocked by rule 3: "found" is not followed by "not ruled out"
        class_facts = [f for f in facts if f.drug_class == drug_class and f.result in ABSENT]
        if any(rules_out(f, drug_class, caps) for f in class_facts):
            continue
        coarse = [f for f in class_facts if caps.rules_out(f.method, drug_class) and too_coarse(f, drug_class)]
        if coarse:
            message = (
                f"{_cap(caps.name(coarse[0].method))} reported {class_name(drug_class)} below {coarse[0].below}: too "
                f"coarse to rule them out (they kill far below {POTENT_LIMIT_PCT.normalize():f} %). Mass spectrometry "
                "with a finer limit or a strip must."
            )
        elif ftir := [f for f in class_facts if f.method == M.FTIR]:
            below = f" (below {ftir[0].below})" if ftir[0].below else ""
            message = (
                f"Only FTIR reported {class_name(drug_class)} as not detected{below}. FTIR cannot see anything "
                f"below about {POTENT_LIMIT_PCT.normalize():f} %, and they kill far below that, so it does not rule "
                "them out: mass spectrometry or a strip must."
            )
        elif any(c == drug_class for _m, c in missing):
            continue  # rule 4 already asks for the result that must rule them out
        else:
            message = f"Nothing has ruled out {class_name(drug_class)}: mass spectrometry or a strip must report them absent."
        blockers.append(Blocker("class_not_ruled_out", message))
    return blockers


def _watch_list_not_ruled_out(evidence: Evidence, caps: Capabilities, harmful: dict) -> list[Blocker]:
    """6. the watch list, compound by compound"""
    return [
        Blocker("watch_list_not_ruled_out",
                f"{watched.name} is on the watch list and no check that can see it reported it absent.")
        for watched in evidence.watch_list
        # A watched compound already found is blocked by rule 3.
        if watched.id not in harmful
        and not any(rules_out_compound(f, watched.id, watched.drug_class, caps) for f in evidence.facts)
    ]


def _sources_out_of_date(evidence: Evidence, caps: Capabilities, found_by: set[int]) -> list[Blocker]:
    """8. every result produced within the validity of its lot or instrument"""
    blockers = []
    for src in sorted(evidence.sources, key=lambda s: (s.performed_at, s.check_id)):
        if src.check_id not in found_by:
            blocker = _source_blocker(src, caps)
            if blocker is not None:
                blockers.append(blocker)
    return blockers


def _source_blocker(src: CheckSource, caps: Capabilities) -> Blocker | None:
    method_name = caps.name
    # The programme's (Vancouver) day, as the service judged it when the check was recorded:
    # UTC's date is a day ahead each evening, which would expire a lot on its last day.
    day = timezone.localtime(src.performed_at).date()
    when = f"{day:%Y-%m-%d}"
    if src.unrecorded_before is not None and src.performed_at >= src.unrecorded_before:
        what = "strip lot" if caps.is_strip(src.method) else "instrument"
        return Blocker(
            "source_unrecorded",
            f"The {method_name(src.method)} check of {when} does not name its {what}; "
            "invalidate it and record a retest that does.",
        )
    if src.valid_until is None or day <= src.valid_until:
        return None
    if caps.is_strip(src.method):
        return Blocker(
            "strip_lot_expired",
            f"The strip check of {when} used {src.name}, which expired on {src.valid_until:%Y-%m-%d}; "
            "its result cannot be trusted. Invalidate it and retest with a lot in date.",
        )
    return Blocker(
        "instrument_not_verified",
        f"The {method_name(src.method)} check of {when} ran on {src.name}, whose verification was due "
        f"on {src.valid_until:%Y-%m-%d}; its result cannot be trusted. Invalidate it and retest on a "
        "verified instrument.",
    )


def _checker_releasing(evidence: Evidence, releasing_user_id: int | None) -> list[Blocker]:
    """7. two-person rule"""
    if releasing_user_id is not None and releasing_user_id in evidence.checkers:
        return [Blocker(
            "checker_cannot_release",
            "You entered checks for this batch; another release officer must release it (two-person rule).",
        )]
    return []


def could_rule_out(facts: Iterable[Fact], compound_id: int, drug_class: str, caps: Capabilities) -> bool:
    """For the watch list: did these checks show ``compound`` absent, and never present?"""
    facts = list(facts)
    if any(f.compound_id == compound_id and f.result in PRESENT for f in facts):
        return False
    return any(rules_out_compound(f, compound_id, drug_class, caps) for f in facts)
