"""Reads for the release rule, the watch list and the admin."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from testing_results.models import Batch, Compound, DrugCheck, Finding, MethodCapability
from testing_results.rules import Capabilities, Evidence, Fact, WatchedCompound


def capabilities() -> Capabilities:
    return Capabilities.from_rows(
        MethodCapability.objects.values_list("method", "drug_class", "can_rule_out", "required")
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


def _facts(findings: QuerySet) -> list[Fact]:
    return [Fact(*row[:10]) for row in findings.values_list(*_FACT_FIELDS)]


def facts_by_batch(batch_ids: Iterable[int]) -> dict[int, list[Fact]]:
    found: dict[int, list[Fact]] = defaultdict(list)
    for row in Finding.objects.filter(drug_check__batch_id__in=list(batch_ids)).values_list(*_FACT_FIELDS):
        found[row[10]].append(Fact(*row[:10]))
    return found


def release_evidence(batch: Batch) -> Evidence:
    """Everything the rule reads about one batch: four queries (checks, findings, expected
    compound, watch list)."""
    checks = list(DrugCheck.objects.filter(batch=batch).values_list("method", "performed_by_id"))
    expected = Batch.objects.filter(pk=batch.pk).values_list(
        "substance__expected_compound_id", "substance__expected_compound__name"
    ).get()
    return Evidence(
        batch_code=batch.code,
        expected_compound_id=expected[0],
        expected_compound_name=expected[1],
        facts=_facts(Finding.objects.filter(drug_check__batch=batch)),
        watch_list=watch_list(),
        checked_methods=frozenset(m for m, _ in checks),
        checkers=frozenset(u for _, u in checks),
    )


def batch_visible_to(user, batch: Batch) -> bool:
    """Batches are programme-wide stock, not a group's: anyone allowed to view batches sees them all."""
    return bool(user.is_active and user.is_staff and user.has_perm("testing_results.view_batch"))


def checks_with_findings(batch: Batch) -> list[DrugCheck]:
    return list(
        DrugCheck.objects.filter(batch=batch)
        .select_related("performed_by")
        .prefetch_related("findings__compound")
        .order_by("performed_at", "id")
    )
