"""Reads for the release rule, the watch list and the admin."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from django.db.models import QuerySet

from testing_results.limits import LimitRow, LimitTable
from testing_results.models import Batch, Compound, DetectionLimit, DrugCheck, Finding, Method, MethodCapability
from testing_results.rules import ABSENT, Capabilities, CheckSource, Evidence, Fact, MethodInfo, WatchedCompound


def checks_in_order(checks: Iterable[DrugCheck]) -> list[DrugCheck]:
    """A batch's checks as the batch page and the PDF list them: by when they were made (then
    by id), each retest directly under the check it replaces, and a retest of that retest under
    it. A retest's time is typed by the checker and may be earlier than the check it replaces
    (the bench's clock, a check entered late), so sorting by time alone could list it above."""
    checks = sorted(checks, key=lambda c: (c.performed_at, c.pk))
    present = {c.pk for c in checks}
    retests: dict[int, list[DrugCheck]] = defaultdict(list)
    for check in checks:
        if check.replaces_id in present:
            retests[check.replaces_id].append(check)
    ordered: list[DrugCheck] = []
    stack = [c for c in reversed(checks) if c.replaces_id not in present]
    while stack:
        check = stack.pop()
        ordered.append(check)
        stack.extend(reversed(retests.pop(check.pk, [])))
    return ordered


def methods() -> list[MethodInfo]:
    return [MethodInfo(*row) for row in Method.objects.values_list("code", "name", "kind", "quantifies", "required")]


def capabilities() -> Capabilities:
    """The capability table and the methods, with the rule's floor applied: two queries."""
    return Capabilities.from_rows(
        MethodCapability.objects.values_list("method", "drug_class", "can_rule_out", "required"), methods()
    )


def watch_list() -> list[WatchedCompound]:
    return [
        WatchedCompound(id=c.id, name=c.name, drug_class=c.drug_class)
        for c in Compound.objects.filter(category=Compound.Category.HARMFUL, watch_listed_at__isnull=False)
    ]


_FACT_FIELDS = (
    "drug_check_id", "drug_check__method", "drug_check__performed_at", "drug_check__performed_by_id",
    "compound_id", "compound__name", "compound__category", "compound__drug_class",
    "result", "concentration_pct", "drug_check__batch_id",
)


def limit_table() -> LimitTable:
    return LimitTable(
        LimitRow(*row) for row in DetectionLimit.objects.values_list(
            "method", "instrument_id", "compound_id", "drug_class", "limit_pct"
        )
    )


def _facts_rows(findings: QuerySet) -> list[tuple[int, Fact]]:
    """(batch id, finding) with the limit each absent result is below: its lot's cut-off for a
    strip, the recorded limit for a spectrum (this instrument's where it has one), which is also
    the limit the rule judges it by."""
    limits = limit_table()
    facts = []
    for row in findings.values_list(*_FACT_FIELDS, "drug_check__instrument_id", "drug_check__strip_lot_id",
                                    "drug_check__strip_lot__cutoff_ng_ml"):
        fact = Fact(*row[:10])
        if fact.result in ABSENT:
            instrument_id, lot_id, cutoff = row[11:14]
            below = limits.below(method=fact.method, strip=lot_id is not None, instrument_id=instrument_id,
                                 cutoff_ng_ml=cutoff, compound_id=fact.compound_id, drug_class=fact.drug_class)
            pct = None if lot_id is not None else limits.pct(fact.method, instrument_id, fact.compound_id, fact.drug_class)
            fact = replace(fact, below=below, limit_pct=pct)
        facts.append((row[10], fact))
    return facts


def _facts(findings: QuerySet) -> list[Fact]:
    return [fact for _batch_id, fact in _facts_rows(findings)]


def facts_by_batch(batch_ids: Iterable[int]) -> dict[int, list[Fact]]:
    """The findings of the valid (not invalidated) checks of each batch, with their limits."""
    found: dict[int, list[Fact]] = defaultdict(list)
    valid = Finding.objects.filter(drug_check__batch_id__in=list(batch_ids), drug_check__invalidated_at__isnull=True)
    for batch_id, fact in _facts_rows(valid):
        found[batch_id].append(fact)
    return found


def _source(row: tuple) -> CheckSource:
    (check_id, method, performed_at, _by, _invalid,
     i_id, i_name, i_serial, i_until, i_unrec, l_id, l_maker, l_number, l_until, l_unrec) = row
    if l_id is not None:
        return CheckSource(check_id, method, performed_at, f"{l_maker} lot {l_number}", l_until, l_unrec)
    return CheckSource(check_id, method, performed_at, f"{i_name} ({i_serial})", i_until, i_unrec)


def release_evidence(batch: Batch) -> Evidence:
    """Everything the rule reads about one batch: five queries (checks with their instruments
    and lots, detection limits, findings, expected compound, watch list). Invalidated checks are left out, except
    that whoever entered them still counts for the two-person rule."""
    rows = list(DrugCheck.objects.filter(batch=batch).values_list(
        "id", "method", "performed_at", "performed_by_id", "invalidated_at",
        "instrument_id", "instrument__make_model", "instrument__serial", "instrument__verified_until",
        "instrument__unrecorded_before",
        "strip_lot_id", "strip_lot__maker", "strip_lot__lot_number", "strip_lot__expires_on",
        "strip_lot__unrecorded_before",
    ))
    valid = [r for r in rows if r[4] is None]
    checks = [(r[1], r[3]) for r in rows]
    expected = Batch.objects.filter(pk=batch.pk).values_list(
        "substance__expected_compound_id", "substance__expected_compound__name"
    ).get()
    return Evidence(
        batch_code=batch.code,
        expected_compound_id=expected[0],
        expected_compound_name=expected[1],
        facts=_facts(Finding.objects.filter(drug_check__batch=batch, drug_check__invalidated_at__isnull=True)),
        watch_list=watch_list(),
        checked_methods=frozenset(r[1] for r in valid),
        checkers=frozenset(u for _, u in checks),
        sources=[_source(r) for r in valid],
    )


def sees_batches(user) -> bool:
    """Batches are programme-wide stock, not a group's: anyone allowed to view batches sees them
    all (their checks and findings hold no member data)."""
    return bool(user.is_active and user.has_perm("testing_results.view_batch"))


def batches_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The batches ``user`` may see: every batch, or none. Re-exported by
    ``distributions.visibility``, which every reader imports."""
    qs = Batch.objects.all() if qs is None else qs
    return qs if sees_batches(user) else qs.none()


def batch_visible_to(user, batch: Batch) -> bool:
    return sees_batches(user)
