"""Stock movements on the double-entry ledger.

Every writer follows the same steps, in the lock order documented in ``distributions.models``:

1. refuse bad arguments before touching the database;
2. make sure the balance rows exist (``INSERT ... ON CONFLICT DO NOTHING``);
3. lock the internal balance rows it touches, in ascending id, and only then check them;
4. insert the entry, hashed onto the chain whose head is one of the rows it just locked;
5. move the balances in SQL (the chain head moves in the same UPDATE), external last, created
   if missing (``_append``: one ``WITH ... INSERT ... UPDATE`` statement on PostgreSQL).

A refusal raises ``ServiceError`` before anything is written, and the whole write is one
transaction, so nothing is ever half-stored. Stock amounts are rounded to the milligram in
SQL (``ROUND(x, 3)``) as they move, which keeps SQLite's floating-point NUMERIC storage from
drifting; PostgreSQL's numeric is exact anyway.

Distributions are not copied into the audit trail: the entry already records who, when, what
and for whom, and is hash-chained and verified like the audit trail. Writing an audit record
would lock the one audit chain head and serialise every distribution in the province. The
other movements (transfers, destruction, adjustments, reversals) are rare and are audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_UP, Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.models import GENESIS_HASH, Account, Balance, LedgerEntry, chain_name
from members.models import Member, MemberGroup
from members.scoping import is_coordinator_of
from testing_results.models import Batch, DrugCheck

__all__ = [
    "distribution_record",
    "entry_reverse",
    "intake_record",
    "sample_record",
    "stock_adjust",
    "stock_destroy",
    "stock_transfer",
]

MG = Decimal("0.001")
# The entry's columns as ``_append`` writes them (the primary key comes from the database).
_ENTRY_FIELDS = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
MAX_GRAMS = Decimal("999999999.999")
# Clocks on a drop-in's tablet and the server disagree a little; anything further ahead is a typo.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


# Arguments -----------------------------------------------------------------------------------


def _grams(value, *, signed: bool = False) -> Decimal:
    try:
        grams = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("grams_invalid", f"{value!r} is not an amount in grams.")
    if not grams.is_finite():
        raise ServiceError("grams_invalid", f"{value!r} is not an amount in grams.")
    if grams != grams.quantize(MG):
        raise ServiceError("grams_invalid", f"{grams} g is more precise than the milligram the scales weigh to.")
    grams = grams.quantize(MG)
    if signed:
        if grams == 0:
            raise ServiceError("grams_zero", "An adjustment must change the stock: enter a positive or negative amount.")
    elif grams <= 0:
        raise ServiceError("grams_not_positive", "Enter an amount in grams greater than zero.")
    if abs(grams) > MAX_GRAMS:
        raise ServiceError("grams_invalid", f"{grams} g is more than the ledger can hold in one entry.")
    return grams


def _key(value: str | None, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise ServiceError("idempotency_key_missing", "Each distribution needs a unique key so a retry is safe.")
        return uuid.uuid4().hex
    key = str(value)
    if len(key) > 64:
        raise ServiceError("idempotency_key_invalid", "The idempotency key is longer than 64 characters.")
    return key


def _occurred(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > now + FUTURE_TOLERANCE:
        raise ServiceError("occurred_in_future", "The time given is in the future.")
    return value


def _reason(value, choices, field: str = "reason") -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ServiceError("reason_invalid", f"Choose a {field} from the list ({allowed}).")
    return str(value)


def _require_perm(by, perm: str, action: str) -> None:
    if not (by.is_active and by.has_perm(perm)):
        raise ServiceError("not_permitted", f"You are not allowed to {action}.")


def _status_error(status: str) -> ServiceError:
    if status == Batch.Status.RECALLED:
        return ServiceError("batch_recalled", "This batch has been recalled. Do not hand it out.")
    if status == Batch.Status.ON_HOLD:
        return ServiceError("batch_on_hold", "This batch is on hold pending review. Do not hand it out.")
    return ServiceError("batch_not_released", "This batch has not been released after drug checking.")


# Accounts and balances -----------------------------------------------------------------------


def system_account(kind: str) -> Account:
    # The data migration creates these; get_or_create covers a database emptied since.
    return Account.objects.get_or_create(kind=kind, group=None)[0]


def group_account(group: MemberGroup | int) -> Account:
    group_id = group if isinstance(group, int) else group.pk
    return Account.objects.get_or_create(kind=Account.Kind.GROUP, group_id=group_id)[0]


def _store(group: MemberGroup | None) -> Account:
    return system_account(Account.Kind.CENTRAL) if group is None else group_account(group)


def _ensure_balances(batch_id: int, accounts: list[Account]) -> None:
    Balance.objects.bulk_create(
        [Balance(account_id=a.pk, batch_id=batch_id, internal=a.is_internal) for a in accounts],
        ignore_conflicts=True,
    )


def _lock_internal(batch_id: int, accounts: list[Account]) -> dict[int, Balance]:
    ids = sorted({a.pk for a in accounts if a.is_internal})
    rows = Balance.objects.select_for_update().filter(batch_id=batch_id, account_id__in=ids).order_by("id")
    return {b.account_id: b for b in rows}


def _lock_batch_status(batch_id: int) -> str:
    """The batch's status, share-locked on PostgreSQL so that a recall waits for the writes
    that saw the batch released, and every write after the recall sees it recalled."""
    qs = Batch.objects.filter(pk=batch_id)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Batch._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {table} WHERE id = %s FOR SHARE", [batch_id])  # noqa: S608
            row = cursor.fetchone()
        return row[0]
    return qs.values_list("status", flat=True).get()


_APPEND_SQL: dict[tuple, str] = {}


def _append_sql(vendor: str, moves: tuple[str, ...]) -> list[str]:
    """The statements that insert an entry and apply ``moves`` (``"head"``: the chain head's
    internal balance, ``"internal"``: another locked internal balance, ``"external"``: an
    external balance, created if missing). One statement on PostgreSQL, in order elsewhere
    (SQLite's IMMEDIATE transactions already serialise writers)."""
    q = connection.ops.quote_name
    entry, balance = q(LedgerEntry._meta.db_table), q(Balance._meta.db_table)
    columns = ", ".join(q(f.column) for f in _ENTRY_FIELDS)
    insert = f"INSERT INTO {entry} ({columns}) VALUES ({', '.join(['%s'] * len(_ENTRY_FIELDS))})"  # noqa: S608
    updates = {
        "head": f"UPDATE {balance} SET grams = ROUND(grams + %s, 3), last_seq = %s, last_hash = %s WHERE id = %s",  # noqa: S608
        "internal": f"UPDATE {balance} SET grams = ROUND(grams + %s, 3) WHERE id = %s",  # noqa: S608
        "external": (
            f"INSERT INTO {balance} (account_id, batch_id, grams, internal, last_seq, last_hash) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s, 0, '{GENESIS_HASH}') ON CONFLICT (account_id, batch_id) "
            f"DO UPDATE SET grams = ROUND({balance}.grams + excluded.grams, 3)"
        ),
    }
    if vendor != "postgresql":
        return [insert, *(updates[m] for m in moves)]
    ctes = [f"e AS ({insert} RETURNING id)"] + [f"m{i} AS ({updates[m]})" for i, m in enumerate(moves)]
    return [f"WITH {', '.join(ctes)} SELECT id FROM e"]  # noqa: S608


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
    now = timezone.now()
    entry = LedgerEntry(
        kind=kind,
        batch_id=batch_id,
        from_account=from_account,
        to_account=to_account,
        grams=grams,
        member_id=member_id,
        recorded_by=by,
        recorded_at=now,
        occurred_at=occurred_at or now,
        idempotency_key=idempotency_key,
        reason=reason,
        reverses_id=reverses_id,
        chain=chain_name(chain_account.pk, batch_id),
        chain_seq=head.last_seq + 1,
        prev_hash=head.last_hash,
    )
    entry.hash = entry.compute_hash()

    moves: list[tuple[str, list]] = []
    external = None
    for account, delta in ((from_account, -grams), (to_account, grams)):
        if account.pk == chain_account.pk:
            moves.append(("head", [delta, entry.chain_seq, entry.hash, heads[account.pk].pk]))
        elif account.is_internal:
            moves.append(("internal", [delta, heads[account.pk].pk]))
        else:
            external = ("external", [account.pk, batch_id, delta, False])
    if external is not None:
        moves.append(external)

    vendor = connection.vendor
    shape = (vendor, *(m for m, _params in moves))
    statements = _APPEND_SQL.get(shape)
    if statements is None:
        statements = _APPEND_SQL[shape] = _append_sql(vendor, shape[1:])
    values = [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in _ENTRY_FIELDS]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(statements[0], values + [v for _m, params in moves for v in params])
            entry.pk = cursor.fetchone()[0]
        else:
            cursor.execute(statements[0], values)
            entry.pk = cursor.lastrowid
            for sql, (_m, params) in zip(statements[1:], moves, strict=True):
                cursor.execute(sql, params)
    entry._state.adding = False
    entry._state.db = connection.alias
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
    _ensure_balances(batch.pk, [from_account, to_account])
    if require_released:
        status = _lock_batch_status(batch.pk)
        if status != Batch.Status.RELEASED:
            raise _status_error(status)
    heads = _lock_internal(batch.pk, [from_account, to_account])
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


def _durable(fn, key: str, **expected):
    """Run ``fn`` in its own durable transaction; if a concurrent retry with the same key won
    the race, ours rolled back whole, and the winner's entry is the answer."""
    try:
        with transaction.atomic(durable=True):
            return fn()
    except IntegrityError:
        existing = _existing(key, **expected)
        if existing is None:
            raise
        return existing


# Testing operations (called by the receivers, inside the testing service's transaction) -------


def intake_record(*, batch: Batch, by) -> LedgerEntry:
    """The received grams enter the central store from the supplier."""
    key = f"intake-{batch.pk}"
    with transaction.atomic():
        existing = _existing(key, kind=LedgerEntry.Kind.INTAKE, batch_id=batch.pk)
        if existing is not None:
            return existing
        return _move_stock(
            kind=LedgerEntry.Kind.INTAKE,
            batch=batch,
            from_account=system_account(Account.Kind.SUPPLIER),
            to_account=system_account(Account.Kind.CENTRAL),
            grams=_grams(batch.received_grams),
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
        existing = _existing(key, kind=LedgerEntry.Kind.SAMPLE, batch_id=drug_check.batch_id)
        if existing is not None:
            return existing
        return _move_stock(
            kind=LedgerEntry.Kind.SAMPLE,
            batch=drug_check.batch,
            from_account=system_account(Account.Kind.CENTRAL),
            to_account=system_account(Account.Kind.LAB),
            grams=grams,
            by=by,
            idempotency_key=key,
        )


# Stock movements between stores --------------------------------------------------------------


def stock_transfer(
    *,
    batch: Batch,
    to_group: MemberGroup | None = None,
    from_group: MemberGroup | None = None,
    grams,
    by,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Move stock from the central store to a group, between groups, or back to the centre.

    ``from_group=None`` is the central store, ``to_group=None`` likewise. Stock may only leave
    the central store or go to another group while the batch is released; a group can always
    send stock back to the centre (a recalled batch is gathered there for destruction).
    """
    grams = _grams(grams)
    key = _key(idempotency_key)
    _require_perm(by, "distributions.transfer_stock", "transfer stock")
    if to_group is None and from_group is None:
        raise ServiceError("transfer_needs_a_group", "A transfer goes to or from a group's store.")
    if to_group is not None and from_group is not None and to_group.pk == from_group.pk:
        raise ServiceError("same_account", "The stock is already in that group's store.")
    if to_group is not None and not to_group.is_active:
        raise ServiceError("group_inactive", f"{to_group} is not active in the programme.")

    def write() -> LedgerEntry:
        existing = _existing(key, kind=LedgerEntry.Kind.TRANSFER, batch_id=batch.pk)
        if existing is not None:
            return existing
        entry = _move_stock(
            kind=LedgerEntry.Kind.TRANSFER,
            batch=batch,
            from_account=_store(from_group),
            to_account=_store(to_group),
            grams=grams,
            by=by,
            idempotency_key=key,
            require_released=to_group is not None,
        )
        _entry_audit("stock.transferred", entry, by)
        return entry

    return _durable(write, key, kind=LedgerEntry.Kind.TRANSFER, batch_id=batch.pk)


def stock_destroy(
    *,
    batch: Batch,
    group: MemberGroup | None = None,
    grams,
    reason: str,
    by,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """Destroy stock held by a group's store (or the central store when ``group`` is None)."""
    grams = _grams(grams)
    key = _key(idempotency_key)
    reason = _reason(reason, LedgerEntry.DestructionReason)
    _require_perm(by, "distributions.adjust_stock", "destroy stock")

    def write() -> LedgerEntry:
        existing = _existing(key, kind=LedgerEntry.Kind.DESTRUCTION, batch_id=batch.pk)
        if existing is not None:
            return existing
        entry = _move_stock(
            kind=LedgerEntry.Kind.DESTRUCTION,
            batch=batch,
            from_account=_store(group),
            to_account=system_account(Account.Kind.DESTROYED),
            grams=grams,
            by=by,
            idempotency_key=key,
            reason=reason,
        )
        _entry_audit("stock.destroyed", entry, by)
        return entry

    return _durable(write, key, kind=LedgerEntry.Kind.DESTRUCTION, batch_id=batch.pk)


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
    grams = _grams(grams, signed=True)
    key = _key(idempotency_key)
    reason = _reason(reason, LedgerEntry.AdjustmentReason)
    _require_perm(by, "distributions.adjust_stock", "adjust stock")

    def write() -> LedgerEntry:
        existing = _existing(key, kind=LedgerEntry.Kind.ADJUSTMENT, batch_id=batch.pk)
        if existing is not None:
            return existing
        store, outside = _store(group), system_account(Account.Kind.SUPPLIER)
        from_account, to_account = (outside, store) if grams > 0 else (store, outside)
        entry = _move_stock(
            kind=LedgerEntry.Kind.ADJUSTMENT,
            batch=batch,
            from_account=from_account,
            to_account=to_account,
            grams=abs(grams),
            by=by,
            idempotency_key=key,
            reason=reason,
        )
        _entry_audit("stock.adjusted", entry, by)
        return entry

    return _durable(write, key, kind=LedgerEntry.Kind.ADJUSTMENT, batch_id=batch.pk)


def entry_reverse(*, entry: LedgerEntry, reason: str, by) -> LedgerEntry:
    """Undo one entry with its mirror image. An entry is reversed at most once, and a reversal
    is never itself reversed (record the movement again instead).

    A distribution may be reversed by a coordinator of the member's group; anything else needs
    the stock-adjusting permission. The reversal needs the stock it puts back to still be where
    the original entry put it.
    """
    reason = _reason(reason, LedgerEntry.ReversalReason)
    if entry.kind == LedgerEntry.Kind.REVERSAL:
        raise ServiceError("cannot_reverse_reversal", "A reversal cannot be reversed; record the movement again instead.")
    if entry.kind == LedgerEntry.Kind.DISTRIBUTION:
        group_id = Member.objects.values_list("group_id", flat=True).get(pk=entry.member_id)
        if not (is_coordinator_of(by, group_id) or (by.is_active and by.has_perm("distributions.adjust_stock"))):
            raise ServiceError("not_coordinator", "Only a coordinator of the member's group can undo this distribution.")
    else:
        _require_perm(by, "distributions.adjust_stock", "reverse stock movements")
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
    moves both balances (``_append``). SQLite runs the same steps in a few more. Refusals, in order: grams, not_coordinator, the
    membership (member_not_active, renewal_overdue, no_consent, ...), the batch's status,
    over_allowance, insufficient_stock.
    """
    grams = _grams(grams)
    key = _key(idempotency_key, required=True)
    if occurred_at is not None:
        occurred_at = _occurred(occurred_at, timezone.now())
    expected = {"kind": LedgerEntry.Kind.DISTRIBUTION, "member_id": member.pk, "batch_id": batch.pk, "grams": grams}

    def write() -> LedgerEntry:
        try:
            return _distribute(member=member, batch=batch, grams=grams, by=by, key=key, occurred_at=occurred_at)
        except ServiceError:
            # A retry whose first attempt committed while we waited for the member's lock sees
            # that attempt's grams as used; it must get the first entry, not a refusal.
            existing = _existing(key, **expected)
            if existing is not None:
                return existing
            raise

    return _durable(write, key, **expected)


def _distribute(*, member: Member, batch: Batch, grams: Decimal, by, key: str, occurred_at: dt.datetime | None) -> LedgerEntry:
    from distributions.eligibility import eligibility_from

    locked, store_id, members_id, existing_id = _lock_member(member.pk, key)
    if existing_id is not None:
        existing = _existing(key, kind=LedgerEntry.Kind.DISTRIBUTION, member_id=member.pk, batch_id=batch.pk, grams=grams)
        if existing is not None:
            return existing
    if not is_coordinator_of(by, locked.group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of the member's group can record this.")

    # "Now" and the member's window are read only once the member is locked, in a statement of
    # their own: a time or a snapshot taken before waiting for the lock would leave out the
    # distributions committed while we waited, and over-serve the member.
    now = timezone.now()
    at = occurred_at or now
    facts, row = _facts_and_stock(locked, store_id, batch.pk, since=min(at, now), until=max(at, now))
    eligibility = eligibility_from(locked, facts, at)
    if not eligibility.eligible:
        first = eligibility.reasons[0]
        raise ServiceError(first.code, first.message, reasons=[r.code for r in eligibility.reasons])
    allowances = [eligibility.allowances]
    if occurred_at is not None and occurred_at < now:
        # A backdated entry (a paper record typed in later) must also fit the window that ends
        # now, which counts everything handed out since.
        allowances.append(eligibility_from(locked, facts, now).allowances)

    if row is not None:
        status, substance_id = row[4], row[5]
    else:
        status, substance_id = Batch.objects.values_list("status", "substance_id").get(pk=batch.pk)
    if status != Batch.Status.RELEASED:
        raise _status_error(status)
    for by_substance in allowances:
        allowance = by_substance.get(substance_id)
        if allowance is not None and grams > allowance.remaining_grams:
            raise ServiceError(
                "over_allowance",
                f"Over the allowance: {allowance.remaining_grams} g of {allowance.substance_name} is left in this "
                f"{allowance.window_days}-day period, {grams} g were asked for.",
                remaining_grams=allowance.remaining_grams,
            )
    held = _decimal(row[1]) if row is not None else Decimal("0.000")
    if held < grams:
        raise ServiceError(
            "insufficient_stock",
            f"The group's store holds only {held} g of batch {batch.code}; {grams} g were asked for.",
            available=held,
        )

    store = Account(pk=store_id, kind=Account.Kind.GROUP, group_id=locked.group_id)
    to_account = Account(pk=members_id or system_account(Account.Kind.MEMBERS).pk, kind=Account.Kind.MEMBERS)
    head = Balance(pk=row[0], account_id=store_id, batch_id=batch.pk, last_seq=row[2], last_hash=row[3])
    return _append(
        kind=LedgerEntry.Kind.DISTRIBUTION,
        batch_id=batch.pk,
        from_account=store,
        to_account=to_account,
        grams=grams,
        by=by,
        heads={store_id: head},
        idempotency_key=key,
        occurred_at=at,
        member_id=locked.pk,
    )


def _lock_member(member_id: int, key: str) -> tuple[Member, int | None, int | None, int | None]:
    """The member as the eligibility rule reads it (with its group), locked on PostgreSQL
    (first in the lock order), and the ids of the group's store, of the members' account and
    of an entry already written under ``key``, in one statement."""
    q = connection.ops.quote_name
    member, group, account, entry = (q(m._meta.db_table) for m in (Member, MemberGroup, Account, LedgerEntry))
    locking = " FOR UPDATE OF m" if connection.vendor == "postgresql" else ""
    sql = (
        f"SELECT m.group_id, m.status, m.renewal_due, m.consent_version, m.consent_given_at, m.age_attested, "  # noqa: S608
        f"g.is_active, "
        f"(SELECT a.id FROM {account} a WHERE a.kind = 'group' AND a.group_id = m.group_id), "
        f"(SELECT a.id FROM {account} a WHERE a.kind = 'members' AND a.group_id IS NULL), "
        f"(SELECT e.id FROM {entry} e WHERE e.idempotency_key = %s) "
        f"FROM {member} m INNER JOIN {group} g ON g.id = m.group_id WHERE m.id = %s{locking}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, member_id])
        row = cursor.fetchone()
    if row is None:
        raise ServiceError("member_not_found", "There is no member with this code.")
    group_id, status, renewal_due, consent_version, consent_given_at, age_attested, group_active = row[:7]
    if isinstance(renewal_due, str):
        renewal_due = dt.date.fromisoformat(renewal_due)
    if isinstance(consent_given_at, str):
        consent_given_at = parse_datetime(consent_given_at)
    if consent_given_at is not None and timezone.is_naive(consent_given_at):
        consent_given_at = consent_given_at.replace(tzinfo=dt.UTC)
    locked = Member(
        pk=member_id,
        group_id=group_id,
        status=status,
        renewal_due=renewal_due,
        consent_version=consent_version,
        consent_given_at=consent_given_at,
        age_attested=bool(age_attested),
    )
    locked.group = MemberGroup(pk=group_id, is_active=bool(group_active))
    return locked, row[7], row[8], row[9]


def _stock_select() -> str:
    balance = connection.ops.quote_name(Balance._meta.db_table)
    batch_table = connection.ops.quote_name(Batch._meta.db_table)
    return (
        f"SELECT b.id, b.grams, b.last_seq, b.last_hash, t.status, t.substance_id "  # noqa: S608
        f"FROM {balance} b INNER JOIN {batch_table} t ON t.id = b.batch_id "
        f"WHERE b.account_id = %s AND b.batch_id = %s"
    )


def _lock_store_balance(store_id: int, batch_id: int) -> tuple | None:
    """(balance id, grams, last_seq, last_hash, batch status, substance id) with the balance
    row locked and, on PostgreSQL, the batch row share-locked (so a recall waits for the
    distributions that saw the batch released), in one statement. None when the store never
    held the batch."""
    locking = " FOR UPDATE OF b FOR SHARE OF t" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(_stock_select() + locking, [store_id, batch_id])
        return cursor.fetchone()


def _facts_and_stock(member: Member, store_id: int | None, batch_id: int, *, since: dt.datetime, until: dt.datetime):
    """The eligibility facts of the (locked) member for ``since`` to ``until``, and
    ``_lock_store_balance``'s row. One statement on PostgreSQL: the balance row is locked in a
    materialised CTE (after the member, as the lock order says; a row that was changed while
    we waited for it is read as committed), the facts come from the statement's snapshot, taken
    after the member's lock was granted, so they include every earlier distribution to them."""
    from distributions.eligibility import facts_from_rows, facts_statement

    sql, params, since, until = facts_statement(member_id=member.pk, group_id=member.group_id, since=since, until=until)
    if connection.vendor != "postgresql" or store_id is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            facts = facts_from_rows(cursor.fetchall(), since, until)
        return facts, (_lock_store_balance(store_id, batch_id) if store_id is not None else None)
    combined = (
        f"WITH stock AS MATERIALIZED ({_stock_select()} FOR UPDATE OF b FOR SHARE OF t) {sql} "  # noqa: S608
        f"UNION ALL SELECT 'b', substance_id, id, grams, last_seq, NULL, NULL, last_hash FROM stock "
        f"UNION ALL SELECT 't', NULL, NULL, NULL, NULL, NULL, NULL, status FROM stock"
    )
    with connection.cursor() as cursor:
        cursor.execute(combined, [store_id, batch_id, *params])
        rows = cursor.fetchall()
    row = None
    balance = next((r for r in rows if r[0] == "b"), None)
    if balance is not None:
        status = next(r[7] for r in rows if r[0] == "t")
        row = (balance[2], balance[3], balance[4], balance[7], status, balance[1])
    return facts_from_rows(rows, since, until), row


def _decimal(value) -> Decimal:
    # SQLite hands back a float for a raw NUMERIC column; its repr is the shortest exact form.
    return (value if isinstance(value, Decimal) else Decimal(repr(value))).quantize(MG)
