"""The ledger's statements, and the rows they return as named tuples. Private to ``ledger``.

The public services in ``distributions.services.ledger`` decide; this module only reads and
writes, in the lock order ``distributions.models`` documents. The hot path (a distribution)
is written in vendor SQL because the ORM would need twice the statements for it: on PostgreSQL
one statement locks the member and finds the accounts and an earlier entry under the key
(``lock_member``), one locks the store's balance row and share-locks the batch while reading
the member's eligibility facts (``facts_and_stock``), and one inserts the entry and moves both
balances (``insert_entry``). SQLite runs the same steps in a few more statements; its
IMMEDIATE transactions already serialise writers, so it needs no row locks.

Table and column names come from the models (quoted by the connection); values travel only as
parameters. Every statement text is built once per shape and kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.base import ModelState
from django.utils import timezone

from distributions.eligibility import (
    EligibilityFacts,
    FactRow,
    GroupState,
    MemberState,
    facts_from_rows,
    facts_sql,
    facts_statement,
)
from distributions.hashing import HASHED_FIELDS, entry_hash
from distributions.models import GENESIS_HASH, Account, Balance, LedgerEntry, chain_name
from distributions.services.arguments import MG
from members.models import Member, MemberGroup
from testing_results.models import Batch

# The entry's columns as ``insert_entry`` writes them (the primary key comes from the database).
ENTRY_FIELDS = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
ENTRY_ATTNAMES = ["id", *(f.attname for f in ENTRY_FIELDS)]


def decimal(value) -> Decimal:
    # SQLite hands back a float for a raw NUMERIC column; its repr is the shortest exact form.
    return (value if isinstance(value, Decimal) else Decimal(repr(value))).quantize(MG)


class MemberRow(NamedTuple):
    """``lock_member``'s answer: the member as the eligibility rule reads it (with its group's
    ``is_active``), and the ids the distribution needs next."""

    member: MemberState
    store_id: int | None  # the member's group's store account
    members_account_id: int | None  # the system account stock handed out goes to
    existing_id: int | None  # an entry already written under the idempotency key


class StockRow(NamedTuple):
    """The group store's balance row for a batch (the chain head) and the batch's state."""

    balance_id: int
    grams: Decimal
    last_seq: int
    last_hash: str
    status: str
    substance_id: int


# Balances ------------------------------------------------------------------------------------


def ensure_balances(batch_id: int, accounts: list[Account]) -> None:
    """Create the balance rows a movement will touch, if missing (``ON CONFLICT DO NOTHING``)."""
    Balance.objects.bulk_create(
        [Balance(account_id=a.pk, batch_id=batch_id, internal=a.is_internal) for a in accounts],
        ignore_conflicts=True,
    )


def lock_internal(batch_id: int, accounts: list[Account]) -> dict[int, Balance]:
    """Lock the internal balance rows of ``accounts`` for the batch, in ascending id, by account id."""
    ids = sorted({a.pk for a in accounts if a.is_internal})
    rows = Balance.objects.select_for_update().filter(batch_id=batch_id, account_id__in=ids).order_by("id")
    return {b.account_id: b for b in rows}


def lock_batch_status(batch_id: int) -> str:
    """The batch's status, share-locked on PostgreSQL so that a recall waits for the writes
    that saw the batch released, and every write after the recall sees it recalled."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Batch._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {table} WHERE id = %s FOR SHARE", [batch_id])  # noqa: S608
            (status,) = cursor.fetchone()
        return status
    return Batch.objects.filter(pk=batch_id).values_list("status", flat=True).get()


# Appending an entry --------------------------------------------------------------------------

_APPEND_SQL: dict[tuple, list[str]] = {}


def _append_sql(vendor: str, moves: tuple[str, ...]) -> list[str]:
    """The statements that insert an entry and apply ``moves``: one statement on PostgreSQL,
    in order elsewhere."""
    q = connection.ops.quote_name
    entry, balance = q(LedgerEntry._meta.db_table), q(Balance._meta.db_table)
    columns = ", ".join(q(f.column) for f in ENTRY_FIELDS)
    insert = f"INSERT INTO {entry} ({columns}) VALUES ({', '.join(['%s'] * len(ENTRY_FIELDS))})"  # noqa: S608
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


def entry_params(values: dict, db=None) -> list:
    """An entry's column values (by attribute name) in ``ENTRY_FIELDS`` order, as the driver of
    ``db`` (default: the default connection) takes them: psycopg adapts Python's Decimal, aware
    datetime, str and int itself (Django's PostgreSQL preparation of these fields returns them
    unchanged); elsewhere each field prepares its own."""
    db = db or connection
    if db.vendor == "postgresql":
        return [values[f.attname] for f in ENTRY_FIELDS]
    return [f.get_db_prep_save(values[f.attname], db) for f in ENTRY_FIELDS]


def _append_statements(vendor: str, moves: tuple[str, ...]) -> list[str]:
    shape = (vendor, *moves)
    statements = _APPEND_SQL.get(shape)
    if statements is None:
        statements = _APPEND_SQL[shape] = _append_sql(vendor, moves)
    return statements


def entry_values(
    *,
    kind: str,
    batch_id: int,
    from_account_id: int,
    to_account_id: int,
    chain_account_id: int,
    last_seq: int,
    last_hash: str,
    grams: Decimal,
    by,
    idempotency_key: str,
    occurred_at: dt.datetime | None = None,
    reason: str = "",
    member_id: int | None = None,
    reverses_id: int | None = None,
) -> dict:
    """A new entry's column values by attribute name, hashed onto the chain of
    ``chain_account_id`` for the batch, whose head is at ``last_seq`` / ``last_hash``."""
    now = timezone.now()
    values = {
        "kind": kind,
        "batch_id": batch_id,
        "from_account_id": from_account_id,
        "to_account_id": to_account_id,
        "grams": grams,
        "member_id": member_id,
        "recorded_by_id": by.pk,
        "recorded_at": now,
        "occurred_at": occurred_at or now,
        "idempotency_key": idempotency_key,
        "reason": reason,
        "reverses_id": reverses_id,
        "chain": chain_name(chain_account_id, batch_id),
        "chain_seq": last_seq + 1,
        "prev_hash": last_hash,
    }
    values["hash"] = entry_hash(*(values[name] for name in HASHED_FIELDS))
    return values


def saved_entry(entry_id: int, values: dict) -> LedgerEntry:
    """The entry just inserted, as the ORM would have loaded it: every column in the instance's
    ``__dict__`` by attribute name, the state of a row read from the database. Built directly,
    because ``from_db`` sets each of the 17 columns through the field's descriptor and sends
    the init signals, about 0.04 ms on the desk's hot path. No receiver listens for this
    model's init signals; a test says so, and fails if one is added."""
    entry = LedgerEntry.__new__(LedgerEntry)
    entry._state = ModelState()
    entry._state.adding, entry._state.db = False, DEFAULT_DB_ALIAS
    fields = entry.__dict__
    fields["id"] = entry_id
    for name in ENTRY_ATTNAMES[1:]:
        fields[name] = values[name]
    return entry


class HotCursor(NamedTuple):
    """The distribution's cursor and the connection's wrapper it belongs to: the hot path reads
    the vendor and the operations from it, not through ``django.db.connection``, whose every
    attribute is looked up in a context-local store (about 1.4 microseconds each, seven times
    a call)."""

    cursor: object
    db: object


@contextlib.contextmanager
def hot_cursor() -> Iterator[HotCursor]:
    """The cursor of the distribution's three statements, with its connection (``HotCursor``).

    On PostgreSQL the driver's own cursor, opened the way Django opens its cursors (its time
    zone) and with Django's translation of the driver's errors (an ``IntegrityError`` stays
    Django's, which ``ledger_write`` catches). Django's wrapper around it adds nothing else
    here but a lookup and a function call on every execute and fetch. Whenever something
    watches the statements (query logging: DEBUG, ``assertNumQueries``; an
    ``execute_wrapper``: the benchmark's capture), Django's own cursor is used, so that they
    see every statement. SQLite always gets Django's cursor, which turns ``%s`` into ``?``.

    Only inside a transaction: Django checked the connection's health when it began, as its
    cursor would have done.

    The driver's cursor is kept on the connection's wrapper and used again by the next
    distribution on the same driver connection: a new cursor would build its adapters again
    (the loaders of every column type it reads) on each call."""
    db = connections[DEFAULT_DB_ALIAS]
    if not db.in_atomic_block:
        raise RuntimeError("hot_cursor runs inside the distribution's transaction.")
    if db.vendor != "postgresql" or db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:
            yield HotCursor(cursor, db)
        return
    db.ensure_connection()
    db.validate_thread_sharing()
    db.validate_no_broken_transaction()
    cursor = getattr(db, "_ledger_hot_cursor", None)
    if cursor is None or cursor.closed or cursor.connection is not db.connection:
        cursor = db._ledger_hot_cursor = db.create_cursor()
    with db.wrap_database_errors:
        yield HotCursor(cursor, db)


def insert_distribution(hot: HotCursor, values: dict, *, head_id: int) -> int:
    """Insert a distribution (``values`` by attribute name, hashed onto the store's chain),
    move the store's balance row ``head_id`` (locked by ``facts_and_stock``) with its chain
    head, then the members' account's balance, created if missing (the lock order); the new
    entry's id. One statement on PostgreSQL."""
    grams, batch_id = values["grams"], values["batch_id"]
    head = [-grams, values["chain_seq"], values["hash"], head_id]
    external = [values["to_account_id"], batch_id, grams, False]
    cursor, vendor = hot.cursor, hot.db.vendor
    statements = _append_statements(vendor, ("head", "external"))
    if vendor == "postgresql":
        cursor.execute(statements[0], [*entry_params(values, hot.db), *head, *external])
        return cursor.fetchone()[0]
    cursor.execute(statements[0], entry_params(values, hot.db))
    entry_id = cursor.lastrowid
    cursor.execute(statements[1], head)
    cursor.execute(statements[2], external)
    return entry_id


def insert_entry(entry: LedgerEntry, *, from_account: Account, to_account: Account, heads: dict[int, Balance]) -> int:
    """Insert ``entry`` (hashed, not yet saved) and move both balances; the new entry's id.

    The caller holds the locks on the internal balances in ``heads`` (by account id); the one
    whose chain ``entry`` extends moves its head in the same UPDATE as its grams; an external
    balance moves last (the lock order), created if missing. Stock amounts are rounded to the
    milligram in SQL (``ROUND(x, 3)``), which keeps SQLite's floating-point NUMERIC storage
    from drifting; PostgreSQL's numeric is exact anyway.
    """
    chain_account_id = from_account.pk if from_account.is_internal else to_account.pk
    moves: list[tuple[str, list]] = []
    external = None
    for account, delta in ((from_account, -entry.grams), (to_account, entry.grams)):
        if account.pk == chain_account_id:
            moves.append(("head", [delta, entry.chain_seq, entry.hash, heads[account.pk].pk]))
        elif account.is_internal:
            moves.append(("internal", [delta, heads[account.pk].pk]))
        else:
            external = ("external", [account.pk, entry.batch_id, delta, False])
    if external is not None:
        moves.append(external)
    vendor = connection.vendor
    statements = _append_statements(vendor, tuple(kind for kind, _params in moves))
    values = entry_params({f.attname: getattr(entry, f.attname) for f in ENTRY_FIELDS})
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(statements[0], values + [v for _kind, params in moves for v in params])
            (entry_id,) = cursor.fetchone()
            return entry_id
        cursor.execute(statements[0], values)
        entry_id = cursor.lastrowid
        for sql, (_kind, params) in zip(statements[1:], moves, strict=True):
            cursor.execute(sql, params)
    return entry_id


# The distribution's reads --------------------------------------------------------------------


class _MemberColumns(NamedTuple):
    group_id: int
    status: str
    renewal_due: dt.date | str
    consent_version: str
    consent_given_at: dt.datetime | str | None
    age_attested: bool | int
    group_active: bool | int
    store_id: int | None
    members_account_id: int | None
    existing_id: int | None


_SQL: dict[tuple[str, str], str] = {}


def _lock_member_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    member, group, account, entry = (q(m._meta.db_table) for m in (Member, MemberGroup, Account, LedgerEntry))
    locking = " FOR UPDATE OF m" if vendor == "postgresql" else ""
    # The consent's moment as ISO text in UTC on PostgreSQL, as the facts statement reads its
    # moments: the driver's timestamp loader (Django's, in the connection's time zone, written
    # in Python) took 2.7 microseconds a value, ``datetime.fromisoformat`` 0.7.
    consent = "m.consent_given_at"
    if vendor == "postgresql":
        consent = f"to_char({consent} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
    # The columns of ``_MemberColumns``, in order.
    return (
        f"SELECT m.group_id, m.status, m.renewal_due, m.consent_version, {consent}, m.age_attested, "  # noqa: S608
        f"g.is_active, "
        f"(SELECT a.id FROM {account} a WHERE a.kind = 'group' AND a.group_id = m.group_id), "
        f"(SELECT a.id FROM {account} a WHERE a.kind = 'members' AND a.group_id IS NULL), "
        f"(SELECT e.id FROM {entry} e WHERE e.idempotency_key = %s) "
        f"FROM {member} m INNER JOIN {group} g ON g.id = m.group_id WHERE m.id = %s{locking}"
    )


def _sql(name: str, build, vendor: str) -> str:
    """The statement ``name`` for ``vendor``, built once."""
    key = (name, vendor)
    text = _SQL.get(key)
    if text is None:
        text = _SQL[key] = build(vendor)
    return text


def lock_member(hot: HotCursor, member_id: int, key: str) -> MemberRow | None:
    """The member as the eligibility rule reads it (with its group), locked on PostgreSQL
    (first in the lock order), and the ids of the group's store, of the members' account and
    of an entry already written under ``key``, in one statement. None if there is no such member."""
    hot.cursor.execute(_sql("lock_member", _lock_member_sql, hot.db.vendor), [key, member_id])
    row = hot.cursor.fetchone()
    if row is None:
        return None
    c = _MemberColumns._make(row)
    renewal_due = dt.date.fromisoformat(c.renewal_due) if isinstance(c.renewal_due, str) else c.renewal_due
    consent_given_at = c.consent_given_at
    if isinstance(consent_given_at, str):
        consent_given_at = dt.datetime.fromisoformat(consent_given_at)
    if consent_given_at is not None and timezone.is_naive(consent_given_at):
        consent_given_at = consent_given_at.replace(tzinfo=dt.UTC)
    locked = MemberState(
        pk=member_id,
        group_id=c.group_id,
        status=c.status,
        renewal_due=renewal_due,
        consent_version=c.consent_version,
        consent_given_at=consent_given_at,
        age_attested=bool(c.age_attested),
        group=GroupState(c.group_id, bool(c.group_active)),
    )
    return MemberRow(locked, c.store_id, c.members_account_id, c.existing_id)


def _stock_select() -> str:
    balance = connection.ops.quote_name(Balance._meta.db_table)
    batch_table = connection.ops.quote_name(Batch._meta.db_table)
    # The columns of ``StockRow``, in order.
    return (
        f"SELECT b.id, b.grams, b.last_seq, b.last_hash, t.status, t.substance_id "  # noqa: S608
        f"FROM {balance} b INNER JOIN {batch_table} t ON t.id = b.batch_id "
        f"WHERE b.account_id = %s AND b.batch_id = %s"
    )


def lock_store_balance(cursor, store_id: int, batch_id: int) -> StockRow | None:
    """The store's balance row for the batch, locked, with the batch row share-locked on
    PostgreSQL (so a recall waits for the distributions that saw the batch released), in one
    statement. None when the store never held the batch."""
    locking = " FOR UPDATE OF b FOR SHARE OF t" if connection.vendor == "postgresql" else ""
    cursor.execute(_stock_select() + locking, [store_id, batch_id])
    row = cursor.fetchone()
    return None if row is None else StockRow._make(row)


def _facts_and_stock_sql(vendor: str) -> str:
    # The facts statement (of one substance) with the stock's CTE first and its two rows last
    # (see below).
    sql = facts_sql(one_substance=True)
    return (
        f"WITH stock AS MATERIALIZED ({_stock_select()} FOR UPDATE OF b FOR SHARE OF t), "  # noqa: S608
        f"{sql.removeprefix('WITH ')} "
        f"UNION ALL SELECT 'b', substance_id, id, grams, last_seq, NULL, NULL, last_hash, NULL FROM stock "
        f"UNION ALL SELECT 't', NULL, NULL, NULL, NULL, NULL, NULL, status, NULL FROM stock"
    )


def facts_and_stock(
    hot: HotCursor, member: MemberState, store_id: int | None, batch_id: int, substance_id: int, *, since: dt.datetime,
    until: dt.datetime,
) -> tuple[EligibilityFacts, StockRow | None]:
    """The eligibility facts of the (locked) member at ``since`` and at ``until``, about the
    batch's substance (``substance_id``) only, and ``lock_store_balance``'s row.

    One statement on PostgreSQL: the balance row is locked in a materialised CTE (after the
    member, as the lock order says; a row that was changed while we waited for it is read as
    committed), the facts come from the statement's snapshot, taken after the member's lock
    was granted, so they include every earlier distribution to them. The stock comes back as
    two more tagged rows of the facts' shape: ``b`` (the balance) and ``t`` (the batch's status).
    """
    sql, params, since, until = facts_statement(
        member_id=member.pk, group_id=member.group_id, since=since, until=until, substance_id=substance_id, db=hot.db
    )
    cursor = hot.cursor
    if hot.db.vendor != "postgresql" or store_id is None:
        cursor.execute(sql, params)
        facts = facts_from_rows(cursor.fetchall(), since, until)
        return facts, (lock_store_balance(cursor, store_id, batch_id) if store_id is not None else None)
    cursor.execute(_sql("facts_and_stock", _facts_and_stock_sql, "postgresql"), [store_id, batch_id, *params])
    rows = cursor.fetchall()
    stock = None
    balance = next((FactRow._make(r) for r in rows if r[0] == "b"), None)
    if balance is not None:
        status = next(FactRow._make(r).name for r in rows if r[0] == "t")
        # The balance row in the facts' columns: id as ref, last_seq as days, last_hash as name.
        stock = StockRow(balance.ref, balance.grams, balance.days, balance.name, status, balance.substance_id)
    return facts_from_rows(rows, since, until), stock
