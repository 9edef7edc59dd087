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
from testing_results.models import Batch, Compound, DrugCheck, Method, Substance
from tests.factories import InstrumentFactory, StripLotFactory, seeded_methods

C, DC = Compound.Category, Compound.DrugClass

# What a clean batch is checked for: the harmful classes the release rule asks about.
HARMFUL = {
    "Fentanyl": DC.FENTANYL,
    "Bromazolam": DC.BENZODIAZEPINE,
    "Isotonitazene": DC.NITAZENE,
    "Xylazine": DC.XYLAZINE,
}


def D(value) -> Decimal:
    """Grams with three places, from a number or text (tests only: no refusal, no rounding check)."""
    return Decimal(str(value)).quantize(Decimal("0.001"))


# The compounds tests name, by key: (name, category, drug class). One list, so that "fentanyl"
# is the same compound in every test that builds it.
COMPOUNDS = {
    "heroin": ("Heroin (diacetylmorphine)", C.ACTIVE, DC.OPIOID),
    "cocaine": ("Cocaine", C.ACTIVE, DC.STIMULANT),
    "caffeine": ("Caffeine", C.CUT, DC.OTHER),
    "fentanyl": ("Fentanyl", C.HARMFUL, DC.FENTANYL),
    "carfentanil": ("Carfentanil", C.HARMFUL, DC.FENTANYL),
    "bromazolam": ("Bromazolam", C.HARMFUL, DC.BENZODIAZEPINE),
    "isotonitazene": ("Isotonitazene", C.HARMFUL, DC.NITAZENE),
    "xylazine": ("Xylazine", C.HARMFUL, DC.XYLAZINE),
    "medetomidine": ("Medetomidine", C.CUT, DC.ALPHA2_AGONIST),
}


def vocabulary(*keys: str) -> dict[str, Compound]:
    """The compounds named by ``keys`` (from ``COMPOUNDS``), created, by key."""
    from tests import factories as f

    return {
        key: f.CompoundFactory(name=name, category=category, drug_class=drug_class)
        for key in keys
        for name, category, drug_class in [COMPOUNDS[key]]
    }


def _compound(name: str, drug_class: str) -> Compound:
    compound, _ = Compound.objects.get_or_create(name=name, defaults={"category": C.HARMFUL, "drug_class": drug_class})
    return compound


def finding(compound: Compound, result: str, pct: str | None = None) -> dict:
    """One finding as ``check_record`` takes it."""
    return {"compound": compound, "result": result, "concentration_pct": Decimal(pct) if pct else None}


def clean_findings(substance: Substance) -> dict[str, list[dict]]:
    """Findings of the three methods for a batch of ``substance`` that passes the release rule."""
    active = substance.expected_compound
    harmful = {name: _compound(name, cls) for name, cls in HARMFUL.items()}
    return {
        "ftir": [finding(active, "detected"), finding(harmful["Fentanyl"], "not_detected")],
        "mass_spec": [finding(active, "detected", "61.5")] + [finding(c, "not_detected") for c in harmful.values()],
        "immunoassay": [finding(harmful["Fentanyl"], "negative"), finding(harmful["Bromazolam"], "negative")],
    }


def source_for(method: str, findings: list[dict]) -> dict:
    """What a check by ``method`` of ``findings`` names: the test instrument of the method, or
    the test strip lot of the findings' class (a strip answers for one class)."""
    seeded_methods()
    kind = Method.objects.filter(code=method).values_list("kind", flat=True).first()
    if kind is None:
        return {}
    if kind != Method.Kind.STRIP:
        return {"instrument": InstrumentFactory(method=method)}
    classes = {f["compound"].drug_class for f in findings if isinstance(f.get("compound"), Compound)}
    return {"strip_lot": StripLotFactory(drug_class=classes.pop() if len(classes) == 1 else Compound.DrugClass.FENTANYL)}


def by_strip_class(method: str, findings: list[dict]) -> list[list[dict]]:
    """Strips of several classes are one check per class (each from its own lot); any other
    method's findings are one check."""
    if method != DrugCheck.Method.IMMUNOASSAY:
        return [findings]
    groups: dict[str, list[dict]] = {}
    for item in findings:
        compound = item.get("compound")
        groups.setdefault(getattr(compound, "drug_class", ""), []).append(item)
    return list(groups.values()) or [findings]


def record_checks(*, batch: Batch, method: str, findings: list[dict], by, sample_mg=Decimal("0"), **kwargs) -> list[DrugCheck]:
    """Record ``findings`` the way a checker would: strips split by class, each check naming its
    lot or instrument (unless ``kwargs`` names one), the sample used once (by the first strip)."""
    groups = [findings] if "strip_lot" in kwargs or "instrument" in kwargs else by_strip_class(method, findings)
    checks = []
    for n, group in enumerate(groups):
        source = {} if "strip_lot" in kwargs or "instrument" in kwargs else source_for(method, group)
        checks.append(testing.check_record(
            batch=batch, method=method, findings=group, by=by, sample_mg=sample_mg if n == 0 else Decimal("0"),
            **source, **kwargs,
        ))
    return checks


def receiver_of(group, by=None):
    """Who receives a manifest into ``group``'s store (the central store when None): ``by`` if
    they may, else the group's first coordinator, else a coordinator made for it."""
    from django.contrib.auth import get_user_model

    from distributions.services.custody import receives_into

    store = ledger.store_account(group)
    if by is not None and receives_into(by, store):
        return by
    if group is None:
        return get_user_model().objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    coordinator = group.coordinators.filter(is_active=True).order_by("pk").first()
    if coordinator is None:
        coordinator = get_user_model().objects.create(username=f"receiver-{uuid.uuid4().hex[:8]}", is_staff=True)
        group.coordinators.add(coordinator)
    return coordinator


def transfer(*, batch: Batch, grams, by, to_group=None, from_group=None, idempotency_key: str | None = None,
             received=None, reason: str | None = None, receiver=None) -> LedgerEntry:
    """Stock moved between stores the only way it moves: a manifest sent by ``by`` from
    ``from_group``'s store (central when None) and received, as weighed (``received`` grams,
    the grams sent by default), into ``to_group``'s store (central when None) by someone who may
    receive there. Returns the receive entry. A retry with the same key receives once."""
    manifest = ledger.manifest_send(
        batch=batch, from_store=ledger.store_account(from_group), to_store=ledger.store_account(to_group), grams=D(grams),
        packages=1, by=by, idempotency_key=idempotency_key,
    )
    if manifest.status == manifest.Status.IN_TRANSIT:
        manifest = ledger.manifest_receive(
            manifest=manifest, grams_received=manifest.grams_sent if received is None else D(received),
            by=receiver or receiver_of(to_group, by), reason=reason,
        )
    return manifest.receive_entry


def destroy(*, batch: Batch, grams, reason: str, by, group=None, witness=None, method: str = "incineration",
            idempotency_key: str | None = None) -> LedgerEntry:
    """Stock destroyed the only way it is: before a witness (by default a second programme admin,
    made for it), who types their password. ``group=None`` is the central store. Returns the
    destruction entry."""
    from compassionclub.roles import Role
    from tests.factories import PASSWORD, UserFactory

    witness = witness or UserFactory(username=f"witness-{uuid.uuid4().hex[:8]}", roles=[Role.PROGRAMME_ADMIN])
    record = ledger.destruction_witnessed(
        batch=batch, store=ledger.store_account(group), grams=D(grams), reason=reason, method=method, by=by,
        witness=witness, witness_password=PASSWORD, idempotency_key=idempotency_key,
    )
    return record.entry


def released_batch(substance: Substance, *, checker, officer, grams="200", best_before=None) -> Batch:
    """A batch received and checked by ``checker`` and released by ``officer``, in the central store."""
    batch = testing.batch_receive(
        substance=substance, grams=D(grams), received_on=timezone.localdate(), by=checker, best_before=best_before
    )
    for method, findings in clean_findings(substance).items():
        record_checks(batch=batch, method=method, findings=findings, by=checker, lab="Lab")
    return testing.batch_release(batch=batch, by=officer, reason="All checks passed.")


def released_stock(group, substance: Substance, *, checker, officer, admin, grams="100", received="200") -> Batch:
    """A released batch of ``substance`` with ``grams`` in ``group``'s store (sent by ``admin``)."""
    batch = released_batch(substance, checker=checker, officer=officer, grams=received)
    transfer(batch=batch, to_group=group, grams=D(grams), by=admin)
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


def receipt_fields(witness=None) -> dict:
    """What the batch receipt page asks beyond the batch: the supplier's code and lot, the
    packages, and a second person (a drug checker, ``frank``) confirming the weight."""
    from compassionclub.roles import Role
    from tests import factories as f

    witness = witness or f.UserFactory(username="frank", roles=[Role.DRUG_CHECKER])
    return {"supplier_ref": "SUP-0014", "supplier_lot": "L-2026-07", "packages": "3", "witness": witness.pk,
            "witness_password": "correct horse battery staple", "witness_code": ""}
