"""The programme's own drug-checking settings: the capability table behind the release rule,
the methods and their panels, detection limits, and the reference sample kept at receipt.
Each refuses a change that would loosen the floor of the rule (``testing_results.rules``)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, require_permission
from compassionclub.quantities import MILLIGRAM
from testing_results.limits import FLOOR_PCT
from testing_results.models import (
    Compound,
    DetectionLimit,
    DrugCheck,
    Instrument,
    Method,
    MethodCapability,
    ReferenceSamplePolicy,
)
from testing_results.rules import (
    BUILT_IN_METHODS,
    FTIR_BLIND,
    REQUIRED_FLOOR,
    RESULTS_FOR_KIND,
)

__all__ = [
    "NEW_METHOD_NOTE", "detection_limit_set", "detection_limit_validate", "method_capability_set",
    "method_capability_validate", "method_save", "method_validate", "reference_policy_set",
]


def method_capability_validate(*, method: str, drug_class: str, can_rule_out: bool, required: bool) -> None:
    """Refuse a change that would loosen the floor of the release rule."""
    if can_rule_out and method == DrugCheck.Method.FTIR and drug_class in FTIR_BLIND:
        raise ServiceError(
            "rule_floor", "FTIR cannot see fentanyl, nitazenes or benzodiazepines at the levels that kill; this cannot be changed."
        )
    if (method, drug_class) in REQUIRED_FLOOR and not (required and can_rule_out):
        raise ServiceError("rule_floor", "Fentanyl and benzodiazepine strips are always required; this cannot be changed.")
    if required and not can_rule_out:
        raise ServiceError("required_needs_rule_out", "A result can only be required from a method that can rule the class out.")


def method_capability_set(*, capability: MethodCapability, can_rule_out: bool, required: bool, note: str, by) -> MethodCapability:
    """Change one row of the capability table. The floor cannot be loosened: FTIR never rules out
    fentanyl, nitazenes or benzodiazepines, and fentanyl and benzodiazepine strips stay required.
    Not durable: the admin's change view already runs in a transaction."""
    require_permission(by, "testing_results.change_methodcapability", "change the release rule")
    method_capability_validate(
        method=capability.method_id, drug_class=capability.drug_class, can_rule_out=can_rule_out, required=required
    )
    with transaction.atomic():
        locked = MethodCapability.objects.select_for_update().get(pk=capability.pk)
        old = {"can_rule_out": locked.can_rule_out, "required": locked.required, "note": locked.note}
        locked.can_rule_out, locked.required, locked.note = can_rule_out, required, (note or "").strip()[:200]
        locked.save(update_fields=["can_rule_out", "required", "note"])
        audit_log(
            action="method_capability.changed", actor=by, target=locked, old=old,
            new={"can_rule_out": can_rule_out, "required": required, "note": locked.note},
        )
    return locked


# Methods ------------------------------------------------------------------------------------

NEW_METHOD_NOTE = "Added by the programme: rules nothing out until a programme admin grants it."


def method_validate(*, code: str, kind: str, quantifies: bool, required: bool, existing: Method | None = None) -> None:
    """Refuse a method that would loosen the floor: the seeded methods keep their kind, what
    they may quantify, and stay required; a strip gives no concentration; a code is for good."""
    code = (code or "").strip()
    if not code:
        raise ServiceError("method_code_required", "Give the method a short code, e.g. hplc.")
    if existing is not None and existing.pk is not None and existing.code != code:
        raise ServiceError("method_code_fixed", "A method's code cannot change: checks and instruments refer to it.")
    if kind not in RESULTS_FOR_KIND:
        raise ServiceError("bad_method_kind", "A method reports either spectrum results or strip results.")
    if kind == "strip" and quantifies:
        raise ServiceError("strip_quantifies", "A strip reports positive, negative or invalid, never a concentration.")
    floor = BUILT_IN_METHODS.get(code)
    if floor is not None and (kind != floor.kind or quantifies != floor.quantifies or not required):
        raise ServiceError(
            "rule_floor",
            f"{floor.name} is one of the three methods every batch needs; its kind, whether it gives a "
            "concentration and that it is required cannot be changed.",
        )


def method_save(*, method: Method, by, panel: list[Compound] | None = None) -> Method:
    """Add or change a method (and its panel). A new method gets a capability row per class
    that rules nothing out, for a programme admin to grant (within the floor)."""
    is_new = method.pk is None
    require_permission(by, f"testing_results.{'add' if is_new else 'change'}_method", "add or change drug-checking methods")
    existing = None if is_new else Method.objects.get(pk=method.pk)
    method_validate(code=method.code, kind=method.kind, quantifies=method.quantifies, required=method.required,
                    existing=existing)
    method.code, method.name = method.code.strip(), (method.name or "").strip()
    if not method.name:
        raise ServiceError("method_name_required", "Give the method a name.")
    with transaction.atomic():
        old = None if existing is None else {
            "name": existing.name, "kind": existing.kind, "quantifies": existing.quantifies, "required": existing.required,
        }
        try:
            with transaction.atomic():
                method.save()
        except IntegrityError:
            raise ServiceError("method_exists", f"A method with the code {method.code!r} or the name {method.name!r} already exists.")
        if panel is not None:
            method.panel.set(panel)
        if is_new:
            MethodCapability.objects.bulk_create(
                MethodCapability(method=method, drug_class=c, can_rule_out=False, required=False, note=NEW_METHOD_NOTE)
                for c in Compound.DrugClass.values
            )
        audit_log(
            action="method.added" if is_new else "method.changed", actor=by, target=method, old=old,
            new={"code": method.code, "name": method.name, "kind": method.kind, "quantifies": method.quantifies,
                 "required": method.required, "panel": sorted(c.name for c in panel) if panel is not None else None},
        )
    return method


# Detection limits ---------------------------------------------------------------------------

def detection_limit_validate(
    *, method: Method, limit_pct, instrument: Instrument | None = None, compound: Compound | None = None,
    drug_class: str = "", exclude_pk: int | None = None,
) -> Decimal:
    """Refuse a limit that is not a percentage, names both a compound and a class, belongs to a
    strip (whose limit is its lot's cut-off), names another method's instrument, repeats one
    already recorded, or loosens the floor (FTIR cannot see below about 5 %)."""
    try:
        limit = Decimal(str(limit_pct)).quantize(Decimal("0.0001"))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("bad_limit", "The limit must be a number (% by weight).")
    if not (Decimal("0") < limit <= Decimal("100")):
        raise ServiceError("bad_limit", "The limit is a percentage by weight: more than 0 and at most 100.")
    if method.kind == Method.Kind.STRIP:
        raise ServiceError("limit_for_strip", "A strip's limit is its lot's cut-off (ng/mL); record it on the strip lot.")
    if compound is not None and drug_class:
        raise ServiceError("limit_compound_or_class", "A limit is for one compound or for one class, not both.")
    if instrument is not None and instrument.method_id != method.code:
        raise ServiceError("instrument_wrong_method", f"{instrument} is not a {method.name} instrument.")
    floor = FLOOR_PCT.get(method.code)
    if floor is not None and limit < floor:
        raise ServiceError(
            "limit_loosens_floor",
            f"{method.name} cannot see below about {floor.normalize():f} %; a lower limit would let its "
            "\"not detected\" claim more than it can. This cannot be changed.",
        )
    same = DetectionLimit.objects.filter(
        method=method, instrument=instrument, compound=compound, drug_class=drug_class or ""
    ).exclude(pk=exclude_pk)
    if same.exists():
        raise ServiceError("limit_exists", "That limit is already recorded; change it instead.")
    return limit


def detection_limit_set(*, limit: DetectionLimit, by) -> DetectionLimit:
    """Record or change one detection limit (the admin's save). Not durable: the admin's change
    view runs in a transaction already."""
    require_permission(by, f"testing_results.{'change' if limit.pk else 'add'}_detectionlimit", "record detection limits")
    limit.limit_pct = detection_limit_validate(
        method=limit.method, limit_pct=limit.limit_pct, instrument=limit.instrument, compound=limit.compound,
        drug_class=limit.drug_class, exclude_pk=limit.pk,
    )
    with transaction.atomic():
        old = DetectionLimit.objects.filter(pk=limit.pk).values("limit_pct", "note").first() if limit.pk else None
        limit.save()
        audit_log(
            action="detection_limit.set", actor=by, target=limit, old=old,
            new={"method": limit.method_id, "instrument": limit.instrument_id, "compound": limit.compound_id,
                 "drug_class": limit.drug_class, "limit_pct": limit.limit_pct, "note": limit.note},
        )
    return limit


# The reference sample ---------------------------------------------------------------------------

def reference_policy_set(*, grams, by) -> ReferenceSamplePolicy:
    """Set the grams retained from each batch at receipt as its reference sample (0 keeps none).
    Batches already received keep what they retained. Not durable: the admin's change view
    runs in a transaction already."""
    require_permission(by, "testing_results.change_referencesamplepolicy", "set the reference sample")
    try:
        grams = Decimal(str(grams).strip().replace(",", "."))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("reference_grams_invalid", "Enter the reference sample in grams, e.g. 1.")
    if not grams.is_finite() or not (Decimal("0") <= grams <= Decimal("1000")) or grams != grams.quantize(MILLIGRAM):
        raise ServiceError("reference_grams_invalid", "Enter the reference sample in grams, from 0 to 1000, to the milligram.")
    with transaction.atomic():
        policy = ReferenceSamplePolicy.objects.select_for_update().filter(pk=1).first() or ReferenceSamplePolicy(pk=1)
        old = {"grams": policy.grams} if policy.updated_at else None
        policy.grams, policy.updated_by, policy.updated_at = grams.quantize(MILLIGRAM), by, timezone.now()
        policy.save()
        audit_log(action="reference_policy.set", actor=by, target=policy, old=old, new={"grams": policy.grams})
    return policy
