"""The ledger as CSV, with every entry's hash and the check of its link in the chain.

The period filters on ``recorded_at`` (the book's own order; ``occurred_at`` may be set back
for a distribution entered after the fact and is a column of its own). Rows are ordered by
``recorded_at`` then id, so the same data and period always give the same file.

Each row carries everything its hash covers (ids included), so anyone can recompute it, and
``chain_check``: ``ok`` when its ``prev_hash`` is the hash of the entry before it in its chain
(or the genesis hash for a chain's first entry), or what is wrong: an entry deleted, or a link
that does not match. The predecessor's hash is read by a subquery in the same query, so the
check costs no query per row and works whichever entries the period (or a coordinator's scope)
leaves out. The last row is the period's summary: first cell ``verify_ledger``, then ``ok`` or
``broken`` and what was checked with its first broken entry.

Recomputing every entry's hash (an entry edited in place keeps its links) is the verification's
work: ``manage.py verify_ledger``, or the separate ``ledger_verification`` export for users who
see every group, over the whole ledger, chain heads and balances included. An export of one
period does not wait for it; a row costs a few microseconds, not a hash.

The file is large (a quarter of a million rows for ninety days of a province), so its cells
are rendered as text once: on PostgreSQL by the query itself (moments in America/Vancouver with
their offset, grams with three places, exactly as ``render.csv_cell`` writes them), elsewhere
by ``csv_cell``; text a person or a client typed is neutralised against spreadsheet formulas.

Coordinators get the entries that touch their groups' stores or members, as in the admin; their
stores' entries of the period are read off the (account, recorded_at) indexes, not picked out of
every group's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import Lag

from compassionclub.errors import not_permitted
from distributions.exports.base import CSV, Exporter, register
from distributions.exports.render import csv_cell, in_local_time_zone, local_moment_sql, neutral
from distributions.models import GENESIS_HASH, Balance, LedgerEntry
from distributions.visibility import coordinated_store_ids, entries_visible_to
from members.models import Member

LEDGER_COLUMNS = [
    "entry_id", "recorded_at", "occurred_at", "kind", "batch_code", "substance",
    "from_account", "to_account", "grams", "member_code", "recorded_by", "reason", "reverses_entry_id",
    "batch_id", "from_account_id", "to_account_id", "member_id", "recorded_by_id", "idempotency_key",
    "chain", "chain_seq", "prev_hash", "hash", "chain_check", "member_previous_codes",
]
SUMMARY_MARKER = "verify_ledger"
FULL_MARKER = "verify_ledger_whole"
VERIFICATION_COLUMNS = ["check", "result", "detail"]


# What a row reads: the entry's own columns, its member's code and its predecessor's hash; no
# model instances, and no join to the batches, accounts and users (a few thousand rows at most,
# read once into dictionaries: the joins cost more than the rest of the query together).
ROW_FIELDS = (
    "id", "recorded_at", "occurred_at", "kind", "batch_id", "from_account_id", "to_account_id", "grams",
    "member__code", "member_id", "recorded_by_id", "reason", "reverses_id", "idempotency_key",
    "chain", "chain_seq", "prev_hash", "hash", "predecessor_hash",
)
# On PostgreSQL the entry's own columns (and its member's code) are read sorted first, and the
# rest (the moments and the grams as text, the predecessor's hash) worked out row by row as they
# are sent; see ``text_rows``.
ENTRY_FIELDS = ROW_FIELDS[:-1]
MOMENTS = ("recorded_at", "occurred_at")
# psycopg streams rows in chunks with libpq 17 or later (the binary package bundles it), one by
# one with an older libpq.
STREAM_CHUNKS = psycopg.pq.version() >= 170000


def _account_labels() -> dict[int, str]:
    from distributions.models import Account

    return {
        account_id: f"group:{neutral(short_name)}" if short_name is not None else kind
        for account_id, kind, short_name in Account.objects.values_list("id", "kind", "group__short_name")
    }


class _BatchCells(dict):
    """batch id → (code, substance) as the file writes them: read up front for the batches the
    rows are expected to name, and for any other one when a row names it."""

    def __init__(self, batches) -> None:
        super().__init__(
            (batch_id, (neutral(code), neutral(substance)))
            for batch_id, code, substance in batches.values_list("id", "code", "substance__name")
        )

    def __missing__(self, batch_id: int) -> tuple[str, str]:
        # On PostgreSQL the rows are being streamed on the connection, which takes no other
        # query until the last one: the batch is read on a connection of its own (a batch is
        # committed before any entry names it).
        from testing_results.models import Batch, Substance

        quote = connection.ops.quote_name
        batches, substances = quote(Batch._meta.db_table), quote(Substance._meta.db_table)
        sql = (
            f"SELECT b.{quote('code')}, s.{quote('name')} FROM {batches} b "  # noqa: S608
            f"JOIN {substances} s ON s.{quote('id')} = b.{quote('substance_id')} WHERE b.{quote('id')} = %s"
        )
        reader = connections.create_connection(DEFAULT_DB_ALIAS) if connection.vendor == "postgresql" else connection
        try:
            with reader.cursor() as cursor:
                cursor.execute(sql, [batch_id])
                code, substance = cursor.fetchone()
        finally:
            if reader is not connection:
                reader.close()
        cells = self[batch_id] = (neutral(code), neutral(substance))
        return cells


def _batch_cells(stores: frozenset[int] | None) -> _BatchCells:
    """The batches' cells: every batch's for a user who sees every group, else those of the
    batches the stores ``stores`` hold or held (a group's few hundred, not the programme's
    thousands): the ledger gives a store a balance row for every batch a movement takes into
    or out of it."""
    from testing_results.models import Batch

    batches = Batch.objects.all()
    if stores is not None:
        batches = batches.filter(pk__in=Balance.objects.filter(account_id__in=stores).values("batch_id"))
    return _BatchCells(batches)


def _usernames() -> dict[int, str]:
    from django.contrib.auth import get_user_model

    return {user_id: neutral(name) for user_id, name in get_user_model().objects.values_list("id", "username")}


def stream(sql: str, params, *, size: int) -> Iterator[tuple]:
    """The rows of ``sql`` as PostgreSQL sends them (psycopg's ``Cursor.stream``, ``size`` rows
    at a time), recorded in the connection's query log as Django records its own. A stream
    closed early (a download cut short) cancels the query; the caller's transaction rolls back."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor, connection.wrap_database_errors:
            yield from cursor.cursor.stream(sql, params, size=size if STREAM_CHUNKS else 1)
    finally:
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})


def entry_chain_check(chain_seq: int, prev_hash: str, predecessor_hash: str | None) -> str:
    """'ok' or what is wrong with one entry's link, given the hash of the entry before it in
    its chain (None when there is none)."""
    if chain_seq == 1:
        if prev_hash != GENESIS_HASH:
            return "first entry of its chain does not start from the genesis hash"
    elif predecessor_hash is None:
        return f"entry {chain_seq - 1} of its chain is missing (deleted)"
    elif predecessor_hash != prev_hash:
        return "does not link to the entry before it in its chain"
    return "ok"


@register
class LedgerCsv(Exporter):
    identifier = "ledger"
    verbose_name = "Ledger (CSV, with hashes and verification)"
    description = "Every entry recorded in the period, its hash, and whether the chain verifies."
    formats = (CSV,)
    parameters = ("date_from", "date_to", "substance_id", "member_code")
    rendered = True
    # PostgreSQL sends the rows in chunks of this many: the first chunk is the wait before the
    # first row is written. At ``bench_seed --scale 1`` a coordinator's 5,687 rows took 0.090 s
    # in chunks of 300 against 0.102 s in chunks of 2,000 (median of six, alternated), and the
    # auditor's 251,920 no longer.
    chunk_size = 300

    def __init__(self, *, user, params) -> None:
        super().__init__(user=user, params=params)
        self.checked = 0
        self.first_broken: tuple[int, str] | None = None

    def header(self) -> list[str]:
        return LEDGER_COLUMNS

    def entries(self):
        """The entries of the period the user may see, in the file's order."""
        p = self.params
        qs = p.in_period(LedgerEntry.objects.all(), "recorded_at")
        if p.substance_id:
            qs = qs.filter(batch__substance_id=p.substance_id)
        if p.member_code:
            qs = qs.filter(member__code=self.member_filter())
        return entries_visible_to(self.user, qs).order_by(F("recorded_at").asc(), "id")

    def queryset(self):
        """The entries with their predecessor's hash (``predecessor_hash``)."""
        # Unordered: the model's ordering would add a sort per row to a lookup of one row by a
        # unique (chain, chain_seq).
        predecessor = LedgerEntry.objects.filter(chain=OuterRef("chain"), chain_seq=OuterRef("chain_seq") - 1).order_by()
        return self.entries().annotate(predecessor_hash=Subquery(predecessor.values("hash")[:1]))

    def previous_codes(self) -> dict[int, str]:
        """member id → the codes of the member's replaced cards: the link between an old card
        and the member is for auditors only (``members.view_retiredcode``). One query."""
        if not self.user.has_perm("members.view_retiredcode"):
            return {}
        from members.models import RetiredCode

        codes: dict[int, list[str]] = {}
        for member_id, code in RetiredCode.objects.order_by("retired_at", "id").values_list("member_id", "code"):
            codes.setdefault(member_id, []).append(code)
        return {member_id: " ".join(found) for member_id, found in codes.items()}

    def rows(self) -> Iterator[Sequence[Any]]:
        previous = self.previous_codes()
        batches = _batch_cells(None if self.sees_all else coordinated_store_ids(self.user))
        accounts, users = _account_labels(), _usernames()
        if connection.vendor == "postgresql":
            source, text = self.text_rows(), str
        else:
            source, text = self.queryset().values_list(*ROW_FIELDS).iterator(chunk_size=self.chunk_size), csv_cell
        for (entry_id, recorded_at, occurred_at, kind, batch_id, from_account_id, to_account_id, grams, member_code,
             member_id, recorded_by_id, reason, reverses_id, key, chain, chain_seq, prev_hash, hash_,
             predecessor_hash) in source:
            result = entry_chain_check(chain_seq, prev_hash, predecessor_hash)
            self.checked += 1
            if result != "ok" and self.first_broken is None:
                self.first_broken = (entry_id, result)
            batch_code, substance = batches[batch_id]
            yield [
                str(entry_id), text(recorded_at), text(occurred_at), kind, batch_code, substance,
                accounts[from_account_id], accounts[to_account_id], text(grams),
                neutral(member_code) if member_code is not None else "", users[recorded_by_id], neutral(reason),
                str(reverses_id) if reverses_id is not None else "",
                str(batch_id), str(from_account_id), str(to_account_id),
                str(member_id) if member_id is not None else "", str(recorded_by_id), neutral(key),
                chain, str(chain_seq), prev_hash, hash_, result, neutral(previous.get(member_id, "")) if previous else "",
            ]

    def text_rows(self) -> Iterator[tuple]:
        """PostgreSQL: the rows of ``ROW_FIELDS``, moments and grams rendered as text, sent by the
        database as it works them out while this process writes those already received
        (psycopg's ``Cursor.stream``): the two work at once, where through a server-side cursor
        each waited for the other at every ``FETCH``. At ``bench_seed --scale 1`` an auditor's
        90 days went from 30,000-41,000 to 55,000-88,000 rows a second (the same bytes).

        Not being a cursor, the query is planned for all its rows (a cursor is planned for its
        first tenth, which had a coordinator's export walk every group's entries in order on
        ``(recorded_at, id)``), so a coordinator's rows are read off the ``(account,
        recorded_at)`` indexes. Compiling the expressions (``jit``) cost more than it saved, and
        the moments are rendered in one call in Vancouver time (``in_local_time_zone``); both
        settings hold for this transaction only."""
        query = self.text_query()
        if query is None:
            return
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            with in_local_time_zone():
                yield from stream(*query, size=self.chunk_size)

    def text_query(self) -> tuple[str, list] | None:
        """``text_rows``'s SQL and parameters, or None when the user may see no entry at all (a
        coordinator of no group yet).

        The entries' own columns are read and sorted first, in a subquery the planner keeps whole
        (``OFFSET 0``), so that each row's text and its predecessor's hash are worked out above
        the sort as the row is sent, not for every row before the first one goes. Every group's
        entries join every member (a hash of them all, built once) and look each predecessor up
        by its index. A coordinator's few thousand look their members up one by one as they are
        sent, and take a predecessor from the entry before in the same chain among their own
        rows (``lag``, after one sort of the few thousand), looking it up only where that is not
        it (it falls outside the period or the scope)."""
        narrow = not self.sees_all
        entries, fields = self.entries(), ENTRY_FIELDS
        if narrow:
            chain = {"partition_by": [F("chain")], "order_by": F("chain_seq").asc()}
            entries = entries.annotate(lag_hash=Window(Lag("hash"), **chain), lag_seq=Window(Lag("chain_seq"), **chain))
            fields = (*(f for f in ENTRY_FIELDS if f != "member__code"), "lag_hash", "lag_seq")
        try:
            inner, params = entries.values_list(*fields).query.sql_with_params()
        except EmptyResultSet:
            return None
        quote = connection.ops.quote_name
        table, members = quote(LedgerEntry._meta.db_table), quote(Member._meta.db_table)
        columns = {field: quote(field.replace("__", "_")) for field in fields}
        # Names and SQL only: every value the user gave is among ``params``.
        member_code = (
            f"s.{columns['member__code']}" if "member__code" in columns
            else f"(SELECT m.code FROM {members} m WHERE m.id = s.{columns['member_id']})"  # noqa: S608
        )
        predecessor = f"(SELECT p.hash FROM {table} p WHERE p.chain = s.chain AND p.chain_seq = s.chain_seq - 1 LIMIT 1)"  # noqa: S608
        if narrow:
            predecessor = (
                f"CASE WHEN s.{columns['lag_seq']} = s.chain_seq - 1 THEN s.{columns['lag_hash']} ELSE {predecessor} END"
            )
        cells = [
            member_code if field == "member__code"
            else local_moment_sql(f"s.{columns[field]}") if field in MOMENTS
            else f"s.{columns[field]}::text" if field == "grams"
            else predecessor if field == "predecessor_hash"
            else f"s.{columns[field]}"
            for field in ROW_FIELDS
        ]
        sql = (
            f"SELECT {', '.join(cells)} FROM ({inner} OFFSET 0) AS s({', '.join(columns.values())}) "  # noqa: S608
            f"ORDER BY s.{columns['recorded_at']}, s.{columns['id']}"
        )
        return sql, params

    def trailer(self) -> Iterator[Sequence[Any]]:
        if self.first_broken is None:
            yield [SUMMARY_MARKER, "ok", f"period: {self.checked} entries checked, every link verifies"]
        else:
            entry_id, why = self.first_broken
            yield [SUMMARY_MARKER, "broken", f"period: {self.checked} entries checked; first broken entry #{entry_id}: {why}"]


@register
class LedgerVerification(Exporter):
    identifier = "ledger_verification"
    verbose_name = "Whole-ledger verification (CSV)"
    description = "Every chain, chain head and balance of the whole ledger, checked as manage.py verify_ledger does."
    formats = (CSV,)

    def check(self) -> None:
        super().check()
        if not self.sees_all:
            # The problems it names are other groups' entries.
            raise not_permitted("Only users who see every group can verify the whole ledger.")

    def header(self) -> list[str]:
        return VERIFICATION_COLUMNS

    def rows(self) -> Iterator[Sequence[Any]]:
        from distributions.verify import verify_ledger

        report = verify_ledger(jobs=1)  # never fork inside a web worker
        # Its timing is left out so that the same data gives the same file.
        counts = f"whole ledger: {report.entries} entries in {report.chains} chains, {report.balances} balances"
        if report.ok:
            yield [FULL_MARKER, "ok", f"{counts}, no problem"]
            return
        yield [FULL_MARKER, "broken", f"{counts}; {len(report.problems)} problem(s), first: {report.first}"]
        for problem in sorted(report.problems, key=lambda p: (p.entry_id is None, p.entry_id or 0)):
            yield ["problem", problem.entry_id if problem.entry_id is not None else "", str(problem)]
