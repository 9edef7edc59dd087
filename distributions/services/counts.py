"""Custody checks on the ledger: blind counts of a store, the receipt of a batch from the
supplier, and the review of the differences they (and manifests) flag. Witnesses and locks as
in ``distributions.services.custody``, whose docstring says how a count and a receipt work."""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.custody_models import SUPPLIER_LOT_REGEX, SUPPLIER_REF_REGEX
from distributions.models import (
    Account,
    Balance,
    BatchReceipt,
    CustodyPolicy,
    DifferenceReview,
    LedgerEntry,
    Manifest,
    StockCount,
    StockCountLine,
)
from distributions.services.arguments import MG
from distributions.services.custody import (
    Kind,
    _packages,
    _second_person,
    _store,
    _store_witness,
    handles_store,
    parse_weight,
)
from distributions.services.ledger import entry_append, system_account
from testing_results import services as testing
from testing_results.models import Batch, Substance

__all__ = ["batch_receipt_record", "count_record", "difference_review"]


# Blind counts ---------------------------------------------------------------------------------


def count_record(
    *, store: Account, lines, by, witness, witness_password: str, witness_code: str = "", request: HttpRequest | None = None,
) -> StockCount:
    """Sign a blind count of ``store``: ``lines`` maps each batch (or ``(batch, grams)`` pairs)
    to the grams counted on the shelf.

    Every batch the store holds must be counted (``count_incomplete`` names the missing batch
    codes, never their grams); a batch the ledger says is not there may be counted too (stock
    found). The witness signs with their own password (and two-factor code). Under the locks of the store's balance rows, each line's difference from the
    balance becomes a ``count_difference`` adjustment against the outside world.
    """
    store = _store(store)
    if not handles_store(by, store):
        raise ServiceError("not_permitted", f"You may not count {store}.")
    pairs = list(lines.items()) if isinstance(lines, dict) else list(lines)
    counted: dict[int, tuple[Batch, Decimal]] = {}
    for batch, grams in pairs:
        if not isinstance(batch, Batch):
            raise ServiceError("batch_invalid", "Each line of a count names a batch.")
        if batch.pk in counted:
            raise ServiceError("count_duplicate_batch", f"Batch {batch.code} is counted twice.")
        try:
            counted[batch.pk] = (batch, parse_weight(grams, field=batch.code))
        except ServiceError as error:
            raise ServiceError(error.code, f"Batch {batch.code}: {error.message_text}", batch=batch.code)
    _store_witness(by, witness, store, password=witness_password, code=witness_code, request=request,
                   what="A count", action="signing a count")

    with transaction.atomic(durable=True):
        Balance.objects.bulk_create(
            [Balance(account_id=store.pk, batch_id=pk, internal=True) for pk in counted], ignore_conflicts=True
        )
        # The store's balances, locked in ascending id (the ledger's lock order) before they are
        # read: a distribution that wants one waits for the count, or the count waits for it.
        locked = list(
            Balance.objects.select_for_update(of=("self",))
            .filter(account=store)
            .filter(Q(batch_id__in=list(counted)) | Q(grams__gt=0))
            .select_related("batch")
            .order_by("id")
        )
        missing = sorted(b.batch.code for b in locked if b.batch_id not in counted and b.grams > 0)
        if missing:
            raise ServiceError(
                "count_incomplete",
                f"Count every batch in {store}: {', '.join(missing)} not counted (enter 0 if none is on the shelf).",
                missing=missing,
            )
        policy = CustodyPolicy.current()
        count = StockCount.objects.create(store=store, counted_by=by, signed_by=witness, signed_at=timezone.now())
        outside = system_account(Account.Kind.SUPPLIER)
        flagged = False
        for balance in locked:
            if balance.batch_id not in counted:
                continue
            batch, grams = counted[balance.batch_id]
            ledger_grams = Decimal(balance.grams).quantize(MG)
            difference = grams - ledger_grams
            entry = None
            if difference:
                entry = entry_append(
                    kind=Kind.ADJUSTMENT, batch=batch,
                    from_account=outside if difference > 0 else store, to_account=store if difference > 0 else outside,
                    grams=abs(difference), by=by, idempotency_key=f"count-{count.pk}-{batch.pk}",
                    reason=LedgerEntry.AdjustmentReason.COUNT_DIFFERENCE,
                )
            line_flagged = abs(difference) > policy.tolerance_for(ledger_grams)
            flagged = flagged or line_flagged
            StockCountLine.objects.create(count=count, batch=batch, counted_grams=grams, ledger_grams=ledger_grams,
                                          entry=entry, flagged=line_flagged)
        if flagged:
            StockCount.objects.filter(pk=count.pk).update(flagged=True)
            count.flagged = True
        audit_log(action="count.signed", actor=by, target=count, new={
            "store": store.pk, "witness": witness.get_username(), "flagged": flagged,
            "lines": {counted[b.batch_id][0].code: str(counted[b.batch_id][1]) for b in locked if b.batch_id in counted},
        })
    return count


# Receipt from the supplier --------------------------------------------------------------------


def _code(value, regex: str) -> str | None:
    """``value`` upper-cased if it matches ``regex``, else None."""
    text = str(value or "").strip().upper()
    return text if re.fullmatch(regex, text) else None


def batch_receipt_record(
    *,
    substance: Substance,
    supplier_ref: str,
    supplier_lot: str,
    packages: int,
    weighed_grams,
    received_on,
    by,
    witness,
    witness_password: str,
    witness_code: str = "",
    request: HttpRequest | None = None,
    best_before=None,
) -> BatchReceipt:
    """Receive a batch into quarantine as weighed on arrival, with the supplier's code and lot
    and the number of packages; ``witness`` confirmed the weight with their own password (and
    two-factor code). The intake entry is the weighed grams."""
    ref, lot = _code(supplier_ref, SUPPLIER_REF_REGEX), _code(supplier_lot, SUPPLIER_LOT_REGEX)
    if ref is None:
        raise ServiceError("supplier_ref_invalid",
                           "Enter the supplier's code as the programme lists it (letters, a dash, digits: SUP-0014), never a name.")
    if lot is None:
        raise ServiceError("supplier_lot_invalid",
                           "Enter the supplier's lot number as printed (letters, digits, dots, dashes or slashes).")
    packages = _packages(packages)
    grams = parse_weight(weighed_grams, field="weighed_grams")
    if grams == 0:
        raise ServiceError("grams_not_positive", "A batch must weigh more than 0 g.")
    _second_person(
        by, witness, permitted=witness is not None and witness.is_active and witness.is_staff and (
            witness.has_perm("testing_results.add_batch") or witness.has_perm("distributions.transfer_stock")),
        password=witness_password, code=witness_code, request=request, what="A receipt", action="confirming a receipt",
        not_permitted_message=f"{witness} cannot confirm a receipt: choose a drug checker or programme staff.",
    )
    with transaction.atomic(durable=True):
        batch = testing.batch_receive(substance=substance, grams=grams, received_on=received_on, by=by, best_before=best_before)
        receipt = BatchReceipt.objects.create(
            batch=batch, supplier_ref=ref, supplier_lot=lot, packages=packages, weighed_grams=grams,
            received_by=by, confirmed_by=witness, received_at=timezone.now(),
        )
        audit_log(action="batch.receipt_confirmed", actor=by, target=batch, new={
            "supplier_ref": ref, "supplier_lot": lot, "packages": packages, "weighed_grams": grams,
            "confirmed_by": witness.get_username(),
        })
    return receipt


# Review of flagged differences ----------------------------------------------------------------


def _locked_target(manifest: Manifest | None, count_line: StockCountLine | None):
    """The flagged item, locked (a second reviewer waits here and then finds it reviewed), and
    the people who recorded its difference (who may not review it themselves)."""
    if manifest is not None:
        locked = Manifest.objects.select_for_update().filter(pk=manifest.pk).first()
        return locked, ({locked.sent_by_id, locked.received_by_id} if locked else set())
    locked = StockCountLine.objects.select_for_update(of=("self",)).select_related("count").filter(pk=count_line.pk).first()
    return locked, ({locked.count.counted_by_id, locked.count.signed_by_id} if locked else set())


def difference_review(
    *, reason: str, by, manifest: Manifest | None = None, count_line: StockCountLine | None = None,
) -> DifferenceReview:
    """Mark one flagged difference (a manifest received beyond the tolerance, or a count line
    beyond it) reviewed, with the reason code that explains it. A programme admin or release
    officer reviews; never someone who sent, received, counted or signed it; once."""
    if (manifest is None) == (count_line is None):
        raise ServiceError("review_target_invalid", "Review one flagged manifest or one flagged count line.")
    if not (by.is_active and by.has_perm("distributions.review_difference")):
        raise ServiceError("not_permitted", "Only a programme admin or a release officer reviews flagged differences.")
    if reason not in DifferenceReview.Reason.values:
        raise ServiceError("reason_invalid", "Choose what explains the difference from the list.")
    with transaction.atomic(durable=True):
        target, recorded_by = _locked_target(manifest, count_line)
        if target is None:
            raise ServiceError("review_target_invalid", "There is no such manifest or count line.")
        if not target.flagged:
            raise ServiceError("review_not_flagged", "Only a difference beyond the tolerance is reviewed.")
        if DifferenceReview.objects.filter(Q(manifest=target) if manifest else Q(count_line=target)).exists():
            raise ServiceError("already_reviewed", "This difference has already been reviewed.")
        if by.pk in recorded_by:
            raise ServiceError("review_own_difference",
                               "You recorded this difference: someone who did not send, receive, count or sign it reviews it.")
        review = DifferenceReview.objects.create(
            manifest=target if manifest else None, count_line=target if count_line else None, reason=reason,
            reviewed_by=by, reviewed_at=timezone.now(),
        )
        difference = target.difference
        audit_log(action="custody.difference_reviewed", actor=by, target=review, new={
            "manifest": review.manifest_id, "count_line": review.count_line_id, "batch": target.batch_id,
            "difference": difference, "reason": reason,
        })
    return review
