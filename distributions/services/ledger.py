"""Stock movements on the double-entry ledger.

Every writer follows the same steps, in the lock order documented in ``distributions.models``:

1. refuse bad arguments before touching the database;
2. make sure the balance rows exist (``INSERT ... ON CONFLICT DO NOTHING``);
3. lock the internal balance rows it touches, in ascending id, and only then check them;
4. insert the entry, hashed onto the chain whose head is one of the rows it just locked;
5. move the balances in SQL (the chain head moves in the same UPDATE), external last, created
   if missing (one ``WITH ... INSERT ... UPDATE`` statement on PostgreSQL).

A refusal raises ``ServiceError`` before anything is written, and the whole write is one
transaction, so nothing is ever half-stored. The statements live in ``_ledger_sql``; this
module decides.

New kinds of movement (in-transit manifests, counts, witnessed destruction, replacements) are
written by their own services, in their own modules, with ``entry_append`` inside
``ledger_write``: steps 2-5 and idempotency come with it, the rule of the movement (who may,
from where, how much) stays with the caller.

Distributions are not copied into the audit trail: the entry already records who, when, what
and for whom, and is hash-chained and verified like the audit trail. Writing an audit record
would lock the one audit chain head and serialise every distribution in the province. The
other movements (transfers, destruction, adjustments, reversals) are rare and are audited.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.models import Account, Balance, LedgerEntry
from distributions.services import _ledger_sql as sql
from distributions.services.arguments import (
    MG,
    batch_status_error,
    parse_grams,
    parse_key,
    parse_occurred,
    parse_reason,
    require_perm,
)
from members.models import Member, MemberGroup
from members.scoping import is_coordinator_of
from testing_results.models import Batch, DrugCheck

__all__ = [
    "distribution_record",
    "distribution_write",
    "entry_append",
    "entry_reverse",
    "group_account",
    "intake_record",
    "ledger_write",
    "sample_record",
    "stock_adjust",
    "store_account",
    "system_account",
]

# Accounts and balances -----------------------------------------------------------------------


def system_account(kind: str) -> Account:
    # The data migration creates these; get_or_create covers a database emptied since.
    return Account.objects.get_or_create(kind=kind, group=None)[0]


def group_account(group: MemberGroup | int) -> Account:
    group_id = group if isinstance(group, int) else group.pk
    return Account.objects.get_or_create(kind=Account.Kind.GROUP, group_id=group_id)[0]


def store_account(group: MemberGroup | None) -> Account:
    """A group's store, or the central store when ``group`` is None."""
    return system_account(Account.Kind.CENTRAL) if group is None else group_account(group)


# Appending -----------------------------------------------------------------------------------


def _append(
    *,
    kind: str,
    batch_id: int,
    from_account: Account,
    to_account: Account,
    grams: Decimal,
    by,
    heads: dict[int, Balance],
    idempotency_key: str,
    occurred_at: dt.datetime | None = None,
    reason: str = "",
    member_id: int | None = None,
    reverses_id: int | None = None,
) -> LedgerEntry:
    """Insert one entry onto its chain and move both balances, in one statement on
    PostgreSQL. The caller holds the locks on every internal balance in ``heads`` and has
    checked the stock; an external balance is updated last (created if it is missing)."""
    chain_account = from_account if from_account.is_internal else to_account
    head = heads[chain_account.pk]
    values = sql.entry_values(
        kind=kind,
        batch_id=batch_id,
        from_account_id=from_account.pk,
        to_account_id=to_account.pk,
        chain_account_id=chain_account.pk,
        last_seq=head.last_seq,
        last_hash=head.last_hash,
        grams=grams,
        by=by,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
        reason=reason,
        member_id=member_id,
        reverses_id=reverses_id,
    )
    entry = sql.saved_entry(0, values)
    entry.pk = sql.insert_entry(entry, from_account=from_account, to_account=to_account, heads=heads)
    return entry


def _existing(key: str, **expected) -> LedgerEntry | None:
    """The entry already written under ``key``, if any; refuses a key reused for another movement."""
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    for field, value in expected.items():
        if getattr(entry, field) != value:
            raise ServiceError(
                "idempotency_key_reused",
                "This key was already used for a different entry; a retry must repeat the same request.",
                entry_id=entry.pk,
            )
    return entry


def _move_stock(
    *,
    kind: str,
    batch: Batch,
    from_account: Account,
    to_account: Account,
    grams: Decimal,
    by,
    idempotency_key: str,
    reason: str = "",
    require_released: bool = False,
    reverses_id: int | None = None,
    member_id: int | None = None,
) -> LedgerEntry:
    """Steps 2-5 for every movement except distributions. Runs in the caller's transaction."""
    sql.ensure_balances(batch.pk, [from_account, to_account])
    if require_released:
        status = sql.lock_batch_status(batch.pk)
        if status != Batch.Status.RELEASED:
            raise batch_status_error(status)
    heads = sql.lock_internal(batch.pk, [from_account, to_account])
    if from_account.is_internal and heads[from_account.pk].grams < grams:
        held = Decimal(heads[from_account.pk].grams).quantize(MG)
        raise ServiceError(
            "insufficient_stock",
            f"{from_account} holds only {held} g of batch {batch.code}; {grams} g were asked for.",
            available=held,
        )
    return _append(
        kind=kind,
        batch_id=batch.pk,
        from_account=from_account,
        to_account=to_account,
        grams=grams,
        by=by,
        heads=heads,
        idempotency_key=idempotency_key,
        reason=reason,
        reverses_id=reverses_id,
        member_id=member_id,
    )


def _entry_audit(action: str, entry: LedgerEntry, by) -> None:
    audit_log(
        action=action,
        actor=by,
        target=entry,
        new={
            "kind": entry.kind,
            "batch": entry.batch_id,
            "from_account": entry.from_account_id,
            "to_account": entry.to_account_id,
            "grams": entry.grams,
            "reason": entry.reason,
            "reverses": entry.reverses_id,
        },
    )


def entry_append(
    *,
    kind: str,
    batch: Batch,
    from_account: Account,
    to_account: Account,
    grams: Decimal,
    by,
    idempotency_key: str,
    reason: str = "",
    member_id: int | None = None,
    require_released: bool = False,
    audit_action: str | None = None,
) -> LedgerEntry:
    """Append one entry of any kind, in the caller's transaction, and move the stock.

    The primitive under every movement but distributions and reversals, for services that add
    kinds of their own. The caller has already checked its arguments (``grams`` a positive
    ``Decimal`` of whole milligrams, ``reason`` a code) and its rule (who may, from where);
    this does the rest: an entry already written under ``idempotency_key`` for the same kind
    and batch is returned as it is (a key reused for another movement is refused), otherwise
    the balance rows are created and locked in the lock order, the batch must be released if
    ``require_released``, an internal ``from_account`` must hold ``grams`` (else
    ``insufficient_stock``), the entry is hashed onto its chain and both balances move. With
    ``audit_action`` (``"stock.destroyed"``), the audit record is written too. Several entries
    in one transaction must touch their balances in ascending order of the balance rows, or
    two writers could deadlock.

    Run it inside ``ledger_write`` so a retry racing its first attempt gets the first entry.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("entry_append runs inside the caller's transaction (use ledger_write).")
    existing = _existing(idempotency_key, kind=kind, batch_id=batch.pk)
    if existing is not None:
        return existing
    entry = _move_stock(
        kind=kind,
        batch=batch,
        from_account=from_account,
        to_account=to_account,
        grams=grams,
        by=by,
        idempotency_key=idempotency_key,
        reason=reason,
        require_released=require_released,
        member_id=member_id,
    )
    if audit_action is not None:
        _entry_audit(audit_action, entry, by)
    return entry


def ledger_write(fn, idempotency_key: str, **expected):
    """Run ``fn`` in its own durable transaction; if a concurrent retry with the same key won
    the race, ours rolled back whole, and the winner's entry is the answer (``expected`` are
    the fields it must share with ours, else ``idempotency_key_reused``)."""
    try:
        with transaction.atomic(durable=True):
            return fn()
    except IntegrityError:
        existing = _existing(idempotency_key, **expected)
        if existing is None:
            raise
        return existing


# Testing operations (called by the receivers, inside the testing service's transaction) -------


def intake_record(*, batch: Batch, by) -> LedgerEntry:
    """The received grams enter the central store from the supplier."""
    key = f"intake-{batch.pk}"
    with transaction.atomic():
        return entry_append(
            kind=LedgerEntry.Kind.INTAKE,
            batch=batch,
            from_account=system_account(Account.Kind.SUPPLIER),
            to_account=system_account(Account.Kind.CENTRAL),
            grams=parse_grams(batch.received_grams),
            by=by,
            idempotency_key=key,
        )


def sample_record(*, drug_check: DrugCheck, by) -> LedgerEntry | None:
    """The sample a check consumed leaves the central store for the lab.

    Samples are weighed in milligrams and the ledger counts whole milligrams, so a fraction of
    a milligram is rounded up: the store never claims more than is physically left.
    """
    grams = (Decimal(drug_check.sample_mg) / 1000).quantize(MG, rounding=ROUND_UP)
    if grams <= 0:
        return None
    key = f"sample-{drug_check.pk}"
    with transaction.atomic():
        return entry_append(
            kind=LedgerEntry.Kind.SAMPLE,
            batch=drug_check.batch,
            from_account=system_account(Account.Kind.CENTRAL),
            to_account=system_account(Account.Kind.LAB),
            grams=grams,
            by=by,
            idempotency_key=key,
        )


# Stock corrections ---------------------------------------------------------------------------


def stock_adjust(
    *,
    batch: Batch,
    group: MemberGroup | None = None,
    grams,
    reason: str,
    by,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Correct a store's stock to what is physically there: positive grams were found, negative
    grams are missing. The other side is the supplier account (the world outside the programme)."""
    grams = parse_grams(grams, signed=True)
    key = parse_key(idempotency_key)
    reason = parse_reason(reason, LedgerEntry.AdjustmentReason)
    require_perm(by, "distributions.adjust_stock", "adjust stock")

    def write() -> LedgerEntry:
        store, outside = store_account(group), system_account(Account.Kind.SUPPLIER)
        from_account, to_account = (outside, store) if grams > 0 else (store, outside)
        return entry_append(
            kind=LedgerEntry.Kind.ADJUSTMENT,
            batch=batch,
            from_account=from_account,
            to_account=to_account,
            grams=abs(grams),
            by=by,
            idempotency_key=key,
            reason=reason,
            audit_action="stock.adjusted",
        )

    return ledger_write(write, key, kind=LedgerEntry.Kind.ADJUSTMENT, batch_id=batch.pk)


def entry_reverse(*, entry: LedgerEntry, reason: str, by) -> LedgerEntry:
    """Undo one entry with its mirror image. An entry is reversed at most once, and a reversal
    is never itself reversed (record the movement again instead).

    A distribution, or a replacement for recalled grams, may be reversed by a coordinator of
    the member's group; anything else needs the stock-adjusting permission. The reversal needs the stock it puts back to still be where
    the original entry put it.
    """
    reason = parse_reason(reason, LedgerEntry.ReversalReason)
    if entry.kind == LedgerEntry.Kind.REVERSAL:
        raise ServiceError("cannot_reverse_reversal", "A reversal cannot be reversed; record the movement again instead.")
    if entry.kind in LedgerEntry.CUSTODY_KINDS:
        # A manifest's entries follow its state: cancel it while in transit, or count the store.
        raise ServiceError("custody_entry", "A manifest's entries are not reversed: cancel the manifest while it is in transit.")
    if entry.kind == LedgerEntry.Kind.REFERENCE:
        raise ServiceError("reference_entry", "A reference sample does not go back into stock: it leaves for a retest or by witnessed destruction.")
    if entry.kind in (LedgerEntry.Kind.DISTRIBUTION, LedgerEntry.Kind.REPLACEMENT):
        group_id = Member.objects.values_list("group_id", flat=True).get(pk=entry.member_id)
        if not (is_coordinator_of(by, group_id) or (by.is_active and by.has_perm("distributions.adjust_stock"))):
            raise ServiceError("not_coordinator", f"Only a coordinator of the member's group can undo this {entry.kind}.")
    else:
        require_perm(by, "distributions.adjust_stock", "reverse stock movements")
    key = f"reversal-{entry.pk}"

    def write() -> LedgerEntry:
        if LedgerEntry.objects.filter(reverses_id=entry.pk).exists():
            raise ServiceError("already_reversed", "This entry has already been reversed.")
        accounts = {a.pk: a for a in Account.objects.filter(pk__in=[entry.from_account_id, entry.to_account_id])}
        reversal = _move_stock(
            kind=LedgerEntry.Kind.REVERSAL,
            batch=entry.batch,
            from_account=accounts[entry.to_account_id],
            to_account=accounts[entry.from_account_id],
            grams=Decimal(entry.grams).quantize(MG),
            by=by,
            idempotency_key=key,
            reason=reason,
            reverses_id=entry.pk,
            member_id=entry.member_id,
        )
        _entry_audit("entry.reversed", reversal, by)
        return reversal

    try:
        with transaction.atomic(durable=True):
            return write()
    except IntegrityError:
        if LedgerEntry.objects.filter(reverses_id=entry.pk).exists():
            raise ServiceError("already_reversed", "This entry has already been reversed.")
        raise


# Distributions -------------------------------------------------------------------------------


def distribution_record(
    *,
    member: Member,
    batch: Batch,
    grams,
    by,
    idempotency_key: str,
    occurred_at: dt.datetime | None = None,
) -> LedgerEntry:
    """Hand ``grams`` of ``batch`` from the member's group store to the member.

    The desk's hot path, in three statements on PostgreSQL: one locks the member and finds the
    accounts and any earlier entry under the key; one locks the store's balance row (the chain
    head), share-locks the batch and reads the facts of the eligibility rule (decided by
    ``eligibility_from``, the rule ``check_eligibility`` applies); one inserts the entry and
    moves both balances. SQLite runs the same steps in a few more. Refusals, in order: grams, not_coordinator, the
    membership (member_not_active, renewal_overdue, no_consent, ...), the batch's status,
    over_allowance, insufficient_stock.
    """
    grams = parse_grams(grams)
    key = parse_key(idempotency_key, required=True)
    expected = {"kind": LedgerEntry.Kind.DISTRIBUTION, "member_id": member.pk, "batch_id": batch.pk, "grams": grams}
    return ledger_write(
        lambda: _distribution_write(member=member, batch=batch, grams=grams, by=by, key=key, occurred_at=occurred_at),
        key, **expected,
    )


def distribution_write(
    *, member: Member, batch: Batch, grams, by, idempotency_key: str, occurred_at: dt.datetime | None = None
) -> LedgerEntry:
    """``distribution_record`` inside the caller's transaction, which must be atomic and is
    the caller's to commit (``distributions.services.visits`` records a visit's lines in one)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("distribution_write runs inside the caller's transaction; use distribution_record.")
    return _distribution_write(
        member=member, batch=batch, grams=parse_grams(grams), by=by, key=parse_key(idempotency_key, required=True),
        occurred_at=occurred_at,
    )


def _distribution_write(
    *, member: Member, batch: Batch, grams: Decimal, by, key: str, occurred_at: dt.datetime | None
) -> LedgerEntry:
    if occurred_at is not None:
        occurred_at = parse_occurred(occurred_at, timezone.now())
    expected = {"kind": LedgerEntry.Kind.DISTRIBUTION, "member_id": member.pk, "batch_id": batch.pk, "grams": grams}
    try:
        return _distribute(member=member, batch=batch, grams=grams, by=by, key=key, occurred_at=occurred_at)
    except ServiceError:
        # A retry whose first attempt committed while we waited for the member's lock sees
        # that attempt's grams as used; it must get the first entry, not a refusal.
        existing = _existing(key, **expected)
        if existing is not None:
            return existing
        raise


def _distribute(*, member: Member, batch: Batch, grams: Decimal, by, key: str, occurred_at: dt.datetime | None) -> LedgerEntry:
    # One cursor for the three statements; the rows come back as named tuples, and the only
    # model instance built is the entry returned.
    with sql.hot_cursor() as hot:
        found = sql.lock_member(hot, member.pk, key)
        if found is None:
            raise ServiceError("member_not_found", "There is no member with this code.")
        locked = found.member
        if found.existing_id is not None:
            existing = _existing(key, kind=LedgerEntry.Kind.DISTRIBUTION, member_id=member.pk, batch_id=batch.pk, grams=grams)
            if existing is not None:
                return existing
        if not is_coordinator_of(by, locked.group_id):
            raise ServiceError("not_coordinator", "Only a coordinator of the member's group can record this.")

        # "Now" and the member's window are read only once the member is locked, in a statement
        # of their own: a time or a snapshot taken before waiting for the lock would leave out
        # the distributions committed while we waited, and over-serve the member.
        now = timezone.now()
        at = occurred_at or now
        facts, stock = sql.facts_and_stock(
            hot, locked, found.store_id, batch.pk, batch.substance_id, since=min(at, now), until=max(at, now)
        )
        _distribution_allowed(locked, facts, stock, batch=batch, grams=grams, at=at, now=now)

        values = sql.entry_values(
            kind=LedgerEntry.Kind.DISTRIBUTION,
            batch_id=batch.pk,
            from_account_id=found.store_id,
            to_account_id=found.members_account_id or system_account(Account.Kind.MEMBERS).pk,
            chain_account_id=found.store_id,
            last_seq=stock.last_seq,
            last_hash=stock.last_hash,
            grams=grams,
            by=by,
            idempotency_key=key,
            occurred_at=at,
            member_id=locked.pk,
        )
        entry_id = sql.insert_distribution(hot, values, head_id=stock.balance_id)
    return sql.saved_entry(entry_id, values)


def _distribution_allowed(
    locked, facts, stock: sql.StockRow | None, *, batch: Batch, grams: Decimal, at: dt.datetime, now: dt.datetime
) -> None:
    """The distribution's rules once the member, the store's balance and the facts are read:
    the membership, the batch's status, the allowance (at ``at`` and, for a backdated entry,
    now), the store's stock. Raises the first refusal."""
    from distributions.eligibility import eligibility_from

    eligibility = eligibility_from(locked, facts, at)
    if not eligibility.eligible:
        first = eligibility.reasons[0]
        raise ServiceError(first.code, first.message, reasons=[r.code for r in eligibility.reasons])
    allowances = [eligibility.allowances]
    if at < now:
        # A backdated entry (a paper record typed in later) must also fit the window that ends
        # now, which counts everything handed out since.
        allowances.append(eligibility_from(locked, facts, now).allowances)

    if stock is not None:
        status, substance_id = stock.status, stock.substance_id
    else:
        status, substance_id = Batch.objects.values_list("status", "substance_id").get(pk=batch.pk)
    if substance_id != batch.substance_id:
        # The facts were read for the substance of the batch as given; a batch's substance is
        # set when it is received and never changes, so this is a stale row that a caller
        # changed by hand.
        raise ValueError(f"Batch {batch.pk} is of substance {substance_id}, not {batch.substance_id} as given.")
    if status != Batch.Status.RELEASED:
        raise batch_status_error(status)
    for by_substance in allowances:
        allowance = by_substance.get(substance_id)
        if allowance is not None and grams > allowance.remaining_grams:
            raise ServiceError(
                "over_allowance",
                f"Over the allowance: {allowance.remaining_grams} g of {allowance.substance_name} is left in this "
                f"{allowance.window_days}-day period, {grams} g were asked for.",
                remaining_grams=allowance.remaining_grams,
            )
    held = sql.decimal(stock.grams) if stock is not None else Decimal("0.000")
    if held < grams:
        raise ServiceError(
            "insufficient_stock",
            f"The group's store holds only {held} g of batch {batch.code}; {grams} g were asked for.",
            available=held,
        )
