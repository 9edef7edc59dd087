"""Receiving a batch, recording and withdrawing its checks, its release transitions, and the
watch list that puts released batches on hold (see the package's docstring for the locking)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.functions import Length
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, not_permitted, require_permission
from compassionclub.quantities import parse_grams
from testing_results import selectors
from testing_results.labels import label_text, label_text_fr
from testing_results.models import (
    Batch,
    BatchStatusChange,
    Compound,
    DrugCheck,
    Finding,
    Instrument,
    StripLot,
    Substance,
)
from testing_results.pdf_check import pdf_validate
from testing_results.rules import (
    PRESENT,
    RESULTS_FOR_KIND,
    Assessment,
    Blocker,
    Capabilities,
    assess,
    could_rule_out,
)
from testing_results.signals import batch_received, batch_status_changed, check_recorded

__all__ = [
    "Assessment", "Blocker", "CHECKABLE", "LAB_REPORT_MAX_BYTES", "PAST_TENSE", "TRANSITIONS",
    "assess_release", "batch_hold", "batch_hold_within", "batch_recall", "batch_receive", "batch_reject", "batch_release",
    "check_attach_report", "check_invalidate", "check_record", "compound_watch_list", "may_invalidate_checks",
]

S = Batch.Status
LAB_REPORT_MAX_BYTES = 10 * 1024 * 1024
CLOCK_SKEW = dt.timedelta(minutes=5)
# Milligrams of sample and concentrations are stored with three places, like grams.
PLACES = Decimal("0.001")

# action -> (statuses it may start from, status it leads to). DESIGN.md: quarantined → released |
# rejected; released → on_hold → released | recalled; released → recalled.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "release": (frozenset({S.QUARANTINED, S.ON_HOLD}), S.RELEASED),
    "reject": (frozenset({S.QUARANTINED}), S.REJECTED),
    "hold": (frozenset({S.RELEASED}), S.ON_HOLD),
    "recall": (frozenset({S.RELEASED, S.ON_HOLD}), S.RECALLED),
}
PAST_TENSE = {"release": "released", "reject": "rejected", "hold": "held", "recall": "recalled"}
CHECKABLE = frozenset({S.QUARANTINED, S.RELEASED, S.ON_HOLD})


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("reason_required", "Give a reason; it is kept with the batch's history.")
    if len(reason) > 500:
        raise ServiceError("reason_too_long", "Keep the reason under 500 characters.")
    return reason


# Receiving ---------------------------------------------------------------------------------

def _code_prefix(substance: Substance) -> str:
    ascii_name = unicodedata.normalize("NFKD", substance.name).encode("ascii", "ignore").decode()
    letters = re.sub(r"[^A-Za-z]", "", ascii_name).upper()
    return (letters + "XXX")[:3]


def _next_code(substance: Substance, year: int) -> str:
    """``HER-2026-0001``: substance prefix, year received, sequence within both."""
    stem = f"{_code_prefix(substance)}-{year}-"
    last = (
        Batch.objects.filter(code__startswith=stem)
        .order_by(Length("code").desc(), "-code")
        .values_list("code", flat=True)
        .first()
    )
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{stem}{seq:04d}"


def batch_receive(*, substance: Substance, grams: Decimal, received_on: dt.date, by, best_before: dt.date | None = None) -> Batch:
    """Receive a batch into quarantine and write its intake entry (through ``batch_received``).

    Not durable: a caller loading several batches (``seed_demo``) may wrap it in its own
    transaction.
    """
    require_permission(by, "testing_results.add_batch", "receive batches")
    grams = parse_grams(grams)
    if received_on > timezone.localdate():
        raise ServiceError("received_in_future", "The date received cannot be in the future.")
    if best_before is not None and best_before < received_on:
        raise ServiceError("best_before_before_receipt", "Best before cannot be earlier than the date received.")

    with transaction.atomic():
        # Serialises receipts of one substance on PostgreSQL; the retry covers two substances
        # whose names share a prefix (and SQLite, where IMMEDIATE already serialises writers).
        substance = Substance.objects.select_for_update().get(pk=substance.pk)
        for attempt in range(5):
            try:
                with transaction.atomic():
                    batch = Batch.objects.create(
                        code=_next_code(substance, received_on.year), substance=substance, received_on=received_on,
                        received_grams=grams, best_before=best_before, status=S.QUARANTINED,
                        status_changed_at=timezone.now(), created_by=by,
                    )
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        # Ledger first, audit chain head last: the lock order every writer keeps.
        batch_received.send(sender=Batch, batch=batch, by=by)
        audit_log(
            action="batch.received", actor=by, target=batch,
            new={"code": batch.code, "substance": substance.name, "grams": grams,
                 "received_on": received_on, "best_before": best_before},
        )
    return batch


# Checks ------------------------------------------------------------------------------------

def _clean_findings(
    method: str, findings: list[dict[str, Any]], caps: Capabilities
) -> list[tuple[Compound, str, Decimal | None]]:
    if not findings:
        raise ServiceError("no_findings", "A check needs at least one finding.")
    info = caps.info(method)
    method_name = caps.name
    allowed = RESULTS_FOR_KIND[info.kind]
    cleaned, seen = [], set()
    for item in findings:
        compound, result = item.get("compound"), item.get("result")
        if not isinstance(compound, Compound) or compound.pk is None:
            raise ServiceError("bad_compound", "Each finding must name a compound from the list.")
        if compound.pk in seen:
            raise ServiceError("duplicate_finding", f"{compound.name} is listed twice in this check.")
        seen.add(compound.pk)
        if result not in allowed:
            words = " or ".join(sorted(str(Finding.Result(r).label).lower() for r in allowed))
            raise ServiceError(
                "bad_finding_result",
                f"{_cap(method_name(method))} results are {words}; {result!r} for {compound.name} is not one of them.",
            )
        pct = item.get("concentration_pct")
        if pct is not None and pct != "":
            try:
                pct = Decimal(str(pct)).quantize(PLACES)
            except (InvalidOperation, ValueError):
                raise ServiceError("bad_concentration", f"The concentration of {compound.name} must be a number.")
            if not (Decimal("0") <= pct <= Decimal("100")):
                raise ServiceError("bad_concentration", f"The concentration of {compound.name} must be between 0 and 100 %.")
            if not info.quantifies:
                raise ServiceError(
                    "bad_concentration",
                    f"{_cap(method_name(method))} does not measure concentrations; leave it empty for {compound.name}.",
                )
            if result not in PRESENT:
                raise ServiceError(
                    "bad_concentration",
                    f"A concentration is only given for a compound that was detected ({compound.name}).",
                )
        else:
            pct = None
        cleaned.append((compound, result, pct))
    return cleaned


def _validate_report(upload: UploadedFile) -> None:
    name = (getattr(upload, "name", "") or "").lower()
    if not name.endswith(".pdf"):
        raise ServiceError("report_not_pdf", "The lab report must be a PDF file (.pdf).")
    size = getattr(upload, "size", None)
    if not size:
        raise ServiceError("report_empty", "The lab report file is empty.")
    if size > LAB_REPORT_MAX_BYTES:
        raise ServiceError("report_too_large", f"The lab report is larger than {LAB_REPORT_MAX_BYTES // (1024 * 1024)} MB.")
    upload.seek(0)
    data = upload.read(LAB_REPORT_MAX_BYTES + 1)
    upload.seek(0)
    pdf_validate(data)


def _store_report(upload: UploadedFile) -> str:
    """Write the file to private storage under a random name; returns the stored name. Done
    before the transaction (slow I/O) and removed again if the transaction does not commit."""
    field = DrugCheck._meta.get_field("lab_report")
    name = field.generate_filename(None, f"{uuid.uuid4().hex}.pdf")
    return field.storage.save(name, upload, max_length=field.max_length)


def _discard_report(name: str) -> None:
    DrugCheck._meta.get_field("lab_report").storage.delete(name)


def _clean_source(
    method: str, instrument: Instrument | None, strip_lot: StripLot | None,
    cleaned: list[tuple[Compound, str, Decimal | None]], performed_at: dt.datetime, caps: Capabilities,
) -> None:
    """A strip check names its lot, any other check its instrument, valid on the day it ran."""
    day = timezone.localtime(performed_at).date()
    method_name = caps.name
    if caps.is_strip(method):
        if instrument is not None:
            raise ServiceError("instrument_for_strip", "A strip check names its strip lot, not an instrument.")
        if strip_lot is None or strip_lot.pk is None:
            raise ServiceError("strip_lot_required", "Name the strip lot this check used (maker and lot number).")
        if strip_lot.unrecorded_before is not None:
            raise ServiceError("source_unrecorded", "The unrecorded strip lot is only for checks made before lots were kept.")
        if strip_lot.expires_on < day:
            raise ServiceError(
                "strip_lot_expired", f"{strip_lot} expired on {strip_lot.expires_on:%Y-%m-%d}; use a lot in date."
            )
        wrong = sorted(c.name for c, _r, _p in cleaned if c.drug_class != strip_lot.drug_class)
        if wrong:
            raise ServiceError(
                "strip_lot_wrong_class",
                f"{strip_lot} tests for {strip_lot.get_drug_class_display().lower()}; it cannot report {', '.join(wrong)}.",
            )
        return
    if strip_lot is not None:
        raise ServiceError("strip_lot_for_instrument_method", f"A {method_name(method)} check names its instrument, not a strip lot.")
    if instrument is None or instrument.pk is None:
        raise ServiceError("instrument_required", f"Name the instrument this {method_name(method)} check ran on.")
    if instrument.method_id != method:
        raise ServiceError(
            "instrument_wrong_method", f"{instrument} is a {method_name(instrument.method_id)} instrument, not {method_name(method)}."
        )
    if instrument.unrecorded_before is not None:
        raise ServiceError("source_unrecorded", "The unrecorded instrument is only for checks made before instruments were kept.")
    if instrument.verified_until < day:
        raise ServiceError(
            "instrument_not_verified",
            f"{instrument}'s verification was due on {instrument.verified_until:%Y-%m-%d}; verify it before recording results.",
        )


def _clean_sample_mg(sample_mg) -> Decimal:
    try:
        sample_mg = Decimal(str(sample_mg)).quantize(PLACES)
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("sample_not_a_number", "The sample used must be a number of milligrams.")
    if sample_mg < 0:
        raise ServiceError("sample_negative", "The sample used cannot be negative.")
    return sample_mg


def _clean_performed_at(performed_at: dt.datetime | None) -> dt.datetime:
    now = timezone.now()
    performed_at = performed_at or now
    if performed_at > now + CLOCK_SKEW:
        raise ServiceError("performed_in_future", "A check cannot have been performed in the future.")
    return performed_at


def check_record(
    *, batch: Batch, method: str, findings: list[dict[str, Any]], by, sample_mg: Decimal,
    performed_at: dt.datetime | None = None, lab: str = "", lab_report: UploadedFile | None = None,
    instrument: Instrument | None = None, strip_lot: StripLot | None = None, replaces: DrugCheck | None = None,
) -> DrugCheck:
    """Record one check and its findings; the sample it consumed goes to the ledger (through
    ``check_recorded``). A new harmful finding on a released batch puts it on hold at once.

    A strip check names its ``strip_lot``, an FTIR or mass spectrometry check its
    ``instrument``, in date on the day the check ran. A retest names the check it ``replaces``
    (same batch and method).

    Checks may be added to quarantined, released and on-hold batches (a held batch is re-checked
    before it can be released again), never to rejected or recalled ones. Not durable, so a
    loader may group several checks in one transaction.
    """
    require_permission(by, "testing_results.add_drugcheck", "record drug checks")
    caps = selectors.capabilities()
    if method not in caps.methods:
        names = ", ".join(info.name for info in caps.methods.values())
        raise ServiceError("bad_method", f"{method!r} is not a drug-checking method ({names}).")
    cleaned = _clean_findings(method, findings, caps)
    sample_mg = _clean_sample_mg(sample_mg)
    performed_at = _clean_performed_at(performed_at)
    lab = (lab or "").strip()
    if len(lab) > 120:
        raise ServiceError("lab_too_long", "Keep the lab or instrument under 120 characters.")
    _clean_source(method, instrument, strip_lot, cleaned, performed_at, caps)
    if replaces is not None and (replaces.pk is None or replaces.batch_id != batch.pk or replaces.method_id != method):
        raise ServiceError("retest_mismatch", "A retest replaces an earlier check of the same batch by the same method.")
    if lab_report is not None:
        _validate_report(lab_report)

    stored = _store_report(lab_report) if lab_report is not None else ""
    try:
        with transaction.atomic():
            locked = Batch.objects.select_for_update().select_related("substance").get(pk=batch.pk)
            if locked.status not in CHECKABLE:
                raise ServiceError(
                    "batch_closed", f"Batch {locked.code} is {locked.get_status_display().lower()}; no more checks can be added."
                )
            if timezone.localtime(performed_at).date() < locked.received_on:
                raise ServiceError("performed_before_receipt", "A check cannot predate the batch's receipt.")
            drug_check = DrugCheck.objects.create(
                batch=locked, method_id=method, performed_at=performed_at, performed_by=by, lab=lab,
                sample_mg=sample_mg, lab_report=stored, instrument=instrument, strip_lot=strip_lot, replaces=replaces,
            )
            Finding.objects.bulk_create(
                Finding(drug_check=drug_check, compound=c, result=r, concentration_pct=p) for c, r, p in cleaned
            )
            # The sample's ledger entry locks the batch's central balance, so it goes before the
            # audit record: every writer takes balances before the audit chain head, and two
            # writers can never hold them in opposite orders.
            if sample_mg > 0:
                check_recorded.send(sender=DrugCheck, drug_check=drug_check, by=by)
            audit_log(
                action="drug_check.recorded", actor=by, target=drug_check,
                new={"batch": locked.code, "method": method, "sample_mg": sample_mg, "lab": lab,
                     "performed_at": performed_at, "lab_report": bool(stored),
                     "instrument": getattr(instrument, "pk", None), "strip_lot": getattr(strip_lot, "pk", None),
                     "replaces": getattr(replaces, "pk", None),
                     "findings": [[c.name, r, p] for c, r, p in cleaned]},
            )
            harmful = sorted(c.name for c, r, _ in cleaned if r in PRESENT and c.category == Compound.Category.HARMFUL)
            if harmful and locked.status == S.RELEASED:
                _apply(
                    locked, action="hold", by=by,
                    reason=f"Put on hold automatically: a new {caps.name(method)} check found {', '.join(harmful)}.",
                )
    except BaseException:
        if stored:
            _discard_report(stored)
        raise
    batch.status = locked.status
    return drug_check


def may_invalidate_checks(user) -> bool:
    """Whether ``user`` may invalidate drug checks: a drug checker or a release officer (a check
    they entered themselves excepted: ``check_invalidate`` refuses it). The batch page offers
    the Invalidate link by the same answer."""
    return bool(user is not None and getattr(user, "is_active", False) and (
        user.has_perm("testing_results.add_drugcheck") or user.has_perm("testing_results.release_batch")
    ))


def check_invalidate(*, drug_check: DrugCheck, reason: str, by) -> DrugCheck:
    """Withdraw a check (it stays, struck through; the rule ignores it). Only a drug checker or
    release officer other than the one who entered it may. If the batch was released and no
    longer passes the rule without this check, it goes on hold in the same transaction."""
    if not may_invalidate_checks(by):
        raise not_permitted("You are not allowed to invalidate drug checks.")
    if reason not in DrugCheck.InvalidationReason.values:
        words = ", ".join(str(label).lower() for label in DrugCheck.InvalidationReason.labels)
        raise ServiceError("bad_invalidation_reason", f"Choose a reason: {words}.")
    if drug_check.performed_by_id == by.pk:
        raise ServiceError("invalidate_own_check", "You entered this check; another drug checker or release officer must invalidate it.")
    with transaction.atomic():
        locked = Batch.objects.select_for_update().select_related("substance").get(pk=drug_check.batch_id)
        now = timezone.now()
        if not DrugCheck.objects.filter(pk=drug_check.pk, invalidated_at__isnull=True).update(
            invalidated_at=now, invalidated_by=by, invalidation_reason=reason
        ):
            raise ServiceError("already_invalidated", "This check has already been invalidated.")
        label = str(DrugCheck.InvalidationReason(reason).label).lower()
        audit_log(
            action="drug_check.invalidated", actor=by, target=drug_check,
            new={"batch": locked.code, "reason": reason, "invalidated_at": now},
        )
        if locked.status == S.RELEASED:
            assessment = assess(selectors.release_evidence(locked), selectors.capabilities())
            if not assessment.releasable:
                _apply(
                    locked, action="hold", by=by,
                    reason=f"Put on hold automatically: the {drug_check.get_method_display().lower()} check of "
                    f"{timezone.localtime(drug_check.performed_at):%Y-%m-%d %H:%M} was invalidated ({label}) and the batch no longer passes "
                    "the release rule.",
                )
    drug_check.invalidated_at, drug_check.invalidated_by, drug_check.invalidation_reason = now, by, reason
    return drug_check


def check_attach_report(*, drug_check: DrugCheck, upload: UploadedFile, by) -> DrugCheck:
    """Attach the lab's PDF to a check that has none yet (a recorded report is never replaced)."""
    require_permission(by, "testing_results.add_drugcheck", "attach lab reports")
    _validate_report(upload)
    stored = _store_report(upload)
    try:
        with transaction.atomic():
            if not DrugCheck.objects.filter(pk=drug_check.pk, lab_report="").update(lab_report=stored):
                raise ServiceError("report_already_attached", "This check already has a lab report.")
            audit_log(action="drug_check.report_attached", actor=by, target=drug_check, new={"lab_report": stored})
    except BaseException:
        _discard_report(stored)
        raise
    drug_check.lab_report.name = stored
    return drug_check


# Assessment and status changes -------------------------------------------------------------

def assess_release(batch: Batch, *, by=None) -> Assessment:
    """Every blocker to releasing ``batch``. With ``by``, the two-person rule is checked for
    that user too. Read only."""
    return assess(selectors.release_evidence(batch), selectors.capabilities(), getattr(by, "pk", None))


def _apply(locked: Batch, *, action: str, by, reason: str, **extra) -> None:
    """Move a locked batch, conditionally on the status it was read with, and record why."""
    starts, to_status = TRANSITIONS[action]
    from_status = locked.status
    if from_status not in starts:
        allowed = " or ".join(sorted(str(S(s).label).lower() for s in starts))
        raise ServiceError(
            "illegal_transition",
            f"Batch {locked.code} is {locked.get_status_display().lower()}; only a {allowed} batch can be {PAST_TENSE[action]}.",
            status=from_status,
        )
    now = timezone.now()
    if not Batch.objects.filter(pk=locked.pk, status=from_status).update(status=to_status, status_changed_at=now, **extra):
        raise ServiceError("illegal_transition", f"Batch {locked.code} changed status meanwhile; reload and try again.")
    change = BatchStatusChange.objects.create(
        batch=locked, from_status=from_status, to_status=to_status, changed_by=by, changed_at=now, reason=reason
    )
    audit_log(
        action=f"batch.{PAST_TENSE[action]}", actor=by, target=locked,
        old={"status": from_status}, new={"status": to_status, "reason": reason, **extra},
    )
    locked.status, locked.status_changed_at = to_status, now
    for key, value in extra.items():
        setattr(locked, key, value)
    # In this transaction: the recall notices commit with the hold or recall, or neither does.
    batch_status_changed.send(sender=Batch, batch=locked, status_change=change, by=by)


def _transition(batch: Batch, *, action: str, by, reason: str) -> Batch:
    require_permission(by, "testing_results.release_batch", f"{action} batches")
    reason = _reason(reason)
    with transaction.atomic(durable=True):
        if action == "release":
            Substance.objects.select_for_update().filter(pk=batch.substance_id).first()
        locked = Batch.objects.select_for_update().select_related("substance").get(pk=batch.pk)
        extra = {}
        if action == "release" and locked.status in TRANSITIONS["release"][0]:
            evidence = selectors.release_evidence(locked)
            caps = selectors.capabilities()
            assessment = assess(evidence, caps, by.pk)
            if not assessment.releasable:
                raise ServiceError(
                    "release_blocked",
                    f"Batch {locked.code} cannot be released: " + " ".join(b.message for b in assessment.blockers),
                    blockers=assessment.blockers,
                )
            extra["label_text"] = label_text(substance_name=locked.substance.name, evidence=evidence, caps=caps)
            # The French label, for members who read the status page in French.
            names_fr = dict(Compound.objects.filter(
                pk__in={f.compound_id for f in evidence.facts} | {evidence.expected_compound_id}
            ).exclude(name_fr="").values_list("pk", "name_fr"))
            extra["label_text_fr"] = label_text_fr(
                substance_name=locked.substance.name_fr or locked.substance.name, evidence=evidence, caps=caps,
                compound_names=names_fr,
            )
        _apply(locked, action=action, by=by, reason=reason, **extra)
    batch.status, batch.status_changed_at = locked.status, locked.status_changed_at
    if "label_text" in extra:
        batch.label_text, batch.label_text_fr = extra["label_text"], extra["label_text_fr"]
    return batch


def batch_release(*, batch: Batch, by, reason: str) -> Batch:
    """Release a quarantined or held batch, only if ``assess_release`` finds no blocker for
    ``by``. Writes the label text."""
    return _transition(batch, action="release", by=by, reason=reason)


def batch_reject(*, batch: Batch, by, reason: str) -> Batch:
    return _transition(batch, action="reject", by=by, reason=reason)


def batch_hold(*, batch: Batch, by, reason: str) -> Batch:
    return _transition(batch, action="hold", by=by, reason=reason)


def batch_hold_within(*, batch: Batch, by, reason: str) -> bool:
    """Put a released batch on hold in the caller's transaction, for a rule of a higher layer
    that holds batches itself (a severe adverse-event report). No permission of its own: the
    caller's rule decides who may cause it. A batch not released is left as it is; returns
    whether it was held. The batch row is locked until the caller commits, so a distribution
    that saw it released has committed first and every later one sees it on hold."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("batch_hold_within runs inside the caller's transaction.")
    locked = Batch.objects.select_for_update().select_related("substance").get(pk=batch.pk)
    if locked.status != S.RELEASED:
        batch.status = locked.status
        return False
    _apply(locked, action="hold", by=by, reason=reason)
    batch.status, batch.status_changed_at = locked.status, locked.status_changed_at
    return True


def batch_recall(*, batch: Batch, by, reason: str) -> Batch:
    """Recall a released or held batch: from the commit on, the ledger refuses to move it."""
    return _transition(batch, action="recall", by=by, reason=reason)


# The watch list ----------------------------------------------------------------------------

def compound_watch_list(*, compound: Compound, by) -> int:
    """Mark ``compound`` harmful and put on the watch list (a public drug alert); every released
    batch whose checks could not have ruled it out goes on hold. Returns how many were held."""
    require_permission(by, "testing_results.change_compound", "change the watch list")
    with transaction.atomic(durable=True):
        list(Substance.objects.select_for_update().order_by("pk"))
        locked = Compound.objects.select_for_update().get(pk=compound.pk)
        old = {"category": locked.category, "watch_listed_at": locked.watch_listed_at}
        locked.category = Compound.Category.HARMFUL
        locked.watch_listed_at = locked.watch_listed_at or timezone.now()
        locked.save(update_fields=["category", "watch_listed_at"])
        caps = selectors.capabilities()
        released = list(Batch.objects.select_for_update().filter(status=S.RELEASED).order_by("pk"))
        facts = selectors.facts_by_batch(b.pk for b in released)
        held = 0
        for batch in released:
            if not could_rule_out(facts.get(batch.pk, []), locked.pk, locked.drug_class, caps):
                _apply(
                    batch, action="hold", by=by,
                    reason=f"Watch list: {locked.name}. This batch's checks could not rule it out; re-check before release.",
                )
                held += 1
        audit_log(
            action="compound.watch_listed", actor=by, target=locked, old=old,
            new={"category": locked.category, "watch_listed_at": locked.watch_listed_at, "batches_held": held},
        )
    compound.category, compound.watch_listed_at = locked.category, locked.watch_listed_at
    return held
