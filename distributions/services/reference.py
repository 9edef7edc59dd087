"""The reference sample: part of each batch retained at receipt, for retests.

At receipt (``batch_received``, in ``batch_receive``'s transaction, after the intake) the
programme's reference grams (``testing_results.models.ReferenceSamplePolicy``, default 1 g) move
from the central store to the reference account: an internal account, so its balance never goes
below zero and its entries are hash-chained like a store's, but not a store: nothing is
transferred, sent on a manifest, distributed or counted from it, and it is not store stock.

It leaves only two ways: as the sample of a retest (a check that replaces another), while it
holds enough, and by witnessed destruction (``custody.destruction_witnessed``, a second person
present) once the batch is finished: rejected or recalled, or with no stock left in any store
or in transit. Its retention entry is never reversed back into stock.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from django.db import transaction

from compassionclub.errors import ServiceError
from distributions.models import Account, Balance, LedgerEntry
from distributions.services import _ledger_sql as sql
from distributions.services.arguments import MG
from distributions.services.ledger import entry_append, system_account
from testing_results.models import Batch, DrugCheck, ReferenceSamplePolicy

__all__ = [
    "reference_destruction_check",
    "reference_destruction_lock",
    "reference_held",
    "reference_retain",
    "reference_sample_record",
]

Kind = LedgerEntry.Kind
# Where stock that could still reach members is: the stores and the road between them.
STOCK_KINDS = (Account.Kind.CENTRAL, Account.Kind.GROUP, Account.Kind.IN_TRANSIT)
FINISHED_STATUSES = frozenset({Batch.Status.REJECTED, Batch.Status.RECALLED})


def reference_retain(*, batch: Batch, by) -> LedgerEntry | None:
    """Move the programme's reference grams (at most what was received) from the central store
    to the reference account, in the receipt's transaction. None when the setting is 0 g."""
    grams = min(Decimal(ReferenceSamplePolicy.current().grams), Decimal(batch.received_grams)).quantize(MG)
    if grams <= 0:
        return None
    with transaction.atomic():
        return entry_append(
            kind=Kind.REFERENCE, batch=batch, from_account=system_account(Account.Kind.CENTRAL),
            to_account=system_account(Account.Kind.REFERENCE), grams=grams, by=by,
            idempotency_key=f"reference-{batch.pk}", audit_action="stock.reference_retained",
        )


def reference_held(batch: Batch | int) -> Decimal:
    batch_id = batch if isinstance(batch, int) else batch.pk
    grams = (
        Balance.objects.filter(batch_id=batch_id, account__kind=Account.Kind.REFERENCE)
        .values_list("grams", flat=True).first()
    )
    return Decimal(grams or 0).quantize(MG)


def reference_sample_record(*, drug_check: DrugCheck, by) -> LedgerEntry | None:
    """A retest's sample, from the reference sample while it holds enough (rounded up to the
    milligram, as every sample). None when it is not a retest or the reference is short: the
    sample then comes from the central store."""
    if drug_check.replaces_id is None:
        return None
    grams = (Decimal(drug_check.sample_mg) / 1000).quantize(MG, rounding=ROUND_UP)
    if grams <= 0 or reference_held(drug_check.batch_id) < grams:
        return None
    with transaction.atomic():
        return entry_append(
            kind=Kind.SAMPLE, batch=drug_check.batch, from_account=system_account(Account.Kind.REFERENCE),
            to_account=system_account(Account.Kind.LAB), grams=grams, by=by, idempotency_key=f"sample-{drug_check.pk}",
        )


def reference_destruction_check(*, batch: Batch, store, reason: str) -> bool:
    """For ``destruction_witnessed``, before its transaction: True when ``store`` is the
    reference account, False for any other account, which the caller checks as a store. The
    reason "reference sample no longer needed" is only for the reference account. Whether the
    batch is finished is decided inside the transaction, under the locks
    (``reference_destruction_lock``)."""
    if not (isinstance(store, Account) and store.kind == Account.Kind.REFERENCE):
        if reason == LedgerEntry.DestructionReason.REFERENCE_FINISHED:
            raise ServiceError(
                "reason_invalid", "\"Reference sample no longer needed\" is for destroying a reference sample only."
            )
        return False
    return True


def reference_destruction_lock(*, batch: Batch) -> None:
    """In the destruction's transaction, before its entry: refuse unless the batch is finished,
    decided under the locks. "No stock left" read before the transaction could be stale by the
    time the entry is written: a reversal of a distribution, an adjustment or a cancelled
    manifest puts grams back in a store, and the reference sample kept for their retests would
    be gone. So the batch's status is share-locked and every balance row of the batch's stock
    and its reference sample is locked, in ascending id (the ledger's lock order: the batch,
    then balances), before reading them; a writer that would put stock back waits for the
    destruction to commit, or the destruction waits for it and sees the stock. On SQLite the
    IMMEDIATE transaction already serialises them."""
    reference, destroyed = system_account(Account.Kind.REFERENCE), system_account(Account.Kind.DESTROYED)
    # The rows the entry will touch exist before any lock is taken, as in every ledger write:
    # inserting one while holding the stock rows could wait on a writer that waits on us.
    sql.ensure_balances(batch.pk, [reference, destroyed])
    status = sql.lock_batch_status(batch.pk)
    stores = set(Account.objects.filter(kind__in=STOCK_KINDS).values_list("pk", flat=True))
    rows = list(
        Balance.objects.select_for_update().filter(batch_id=batch.pk, account_id__in=[*stores, reference.pk])
        .order_by("id").values_list("account_id", "grams")
    )
    stock_left = sum((Decimal(grams) for account_id, grams in rows if account_id in stores), Decimal(0))
    if status not in FINISHED_STATUSES and stock_left > 0:
        raise ServiceError(
            "reference_batch_not_finished",
            f"The reference sample of {batch.code} is kept for retests until the batch is finished (rejected, "
            f"recalled, or no stock left in any store or in transit): {stock_left.quantize(MG)} g are still held.",
        )
