"""Stock built through the real services, for tests that need a member to have received
something: received, checked clean by three methods, released by a second person, sent to a
group's store, handed out by the group's coordinator.

``released_stock(group, substance, ...)`` is "a released batch with stock in group X";
``hand_out(member, substance_or_batch, grams, ...)`` records a distribution the way the desk does.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.utils import timezone

from distributions import services as ledger
from distributions.models import LedgerEntry
from distributions.selectors import group_stock
from testing_results import services as testing
from testing_results.models import Batch, Compound, Substance

C, DC = Compound.Category, Compound.DrugClass

# What a clean batch is checked for: the harmful classes the release rule asks about.
HARMFUL = {
    "Fentanyl": DC.FENTANYL,
    "Bromazolam": DC.BENZODIAZEPINE,
    "Isotonitazene": DC.NITAZENE,
    "Xylazine": DC.XYLAZINE,
}


def D(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.001"))


def _compound(name: str, drug_class: str) -> Compound:
    compound, _ = Compound.objects.get_or_create(name=name, defaults={"category": C.HARMFUL, "drug_class": drug_class})
    return compound


def _finding(compound: Compound, result: str, pct: str | None = None) -> dict:
    return {"compound": compound, "result": result, "concentration_pct": Decimal(pct) if pct else None}


def clean_findings(substance: Substance) -> dict[str, list[dict]]:
    """Findings of the three methods for a batch of ``substance`` that passes the release rule."""
    active = substance.expected_compound
    harmful = {name: _compound(name, cls) for name, cls in HARMFUL.items()}
    return {
        "ftir": [_finding(active, "detected"), _finding(harmful["Fentanyl"], "not_detected")],
        "mass_spec": [_finding(active, "detected", "61.5")] + [_finding(c, "not_detected") for c in harmful.values()],
        "immunoassay": [_finding(harmful["Fentanyl"], "negative"), _finding(harmful["Bromazolam"], "negative")],
    }


def released_batch(substance: Substance, *, checker, officer, grams="200", best_before=None) -> Batch:
    """A batch received and checked by ``checker`` and released by ``officer``, in the central store."""
    batch = testing.batch_receive(
        substance=substance, grams=D(grams), received_on=timezone.localdate(), by=checker, best_before=best_before
    )
    for method, findings in clean_findings(substance).items():
        testing.check_record(batch=batch, method=method, findings=findings, by=checker, sample_mg=Decimal("0"), lab="Lab")
    return testing.batch_release(batch=batch, by=officer, reason="All checks passed.")


def released_stock(group, substance: Substance, *, checker, officer, admin, grams="100", received="200") -> Batch:
    """A released batch of ``substance`` with ``grams`` in ``group``'s store (sent by ``admin``)."""
    batch = released_batch(substance, checker=checker, officer=officer, grams=received)
    ledger.stock_transfer(batch=batch, to_group=group, grams=D(grams), by=admin)
    batch.refresh_from_db()
    return batch


class Stock:
    """Hands out to members from released stock in their group's store, creating a released
    batch (through the services) the first time a group needs one of a substance."""

    def __init__(self, *, checker, officer, admin) -> None:
        self.checker, self.officer, self.admin = checker, officer, admin

    def batch_for(self, group, substance: Substance) -> Batch:
        available = list(group_stock(group, substance))
        if available:
            return available[0]
        return released_stock(group, substance, checker=self.checker, officer=self.officer, admin=self.admin)

    def hand_out(self, member, what: Substance | Batch, grams, at=None, by=None) -> LedgerEntry:
        batch = what if isinstance(what, Batch) else self.batch_for(member.group, what)
        return ledger.distribution_record(
            member=member, batch=batch, grams=D(grams), by=by or member.group.coordinators.order_by("pk").first(),
            idempotency_key=uuid.uuid4().hex, occurred_at=at,
        )
