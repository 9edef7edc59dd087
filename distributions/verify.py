"""Recompute the ledger from its entries and compare with what the database says.

Used by ``manage.py verify_ledger`` (and the benchmark). Reads every entry once, in chain
order, as plain tuples of text (no model instances, no Decimal or datetime objects: the
database renders grams and timestamps in the form the hash covers), and hashes each with
``distributions.hashing.canonical_hash``, the function the writers hash with.
Chains are independent, so a large ledger is split into ranges of chain names verified by
worker processes in parallel (``jobs``), each on its own connection; on PostgreSQL they all
read the one snapshot the heads and balances were read in, so writes made meanwhile cannot
make a sound ledger look broken, nor the other way round.

It finds:

- an edited entry: its content no longer matches its hash;
- a deleted entry: a gap in its chain's sequence, a link to a hash that is not the one before
  it, or a chain that ends before its head (``Balance.last_seq``/``last_hash``) says it does;
- an inserted entry: an entry past its chain's head, on a chain that has no head, on a chain
  that is not the one its accounts say, or a link that does not match;
- a balance that does not equal the sum of its entries, an internal balance below zero, and a
  batch whose accounts do not sum to zero.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
import re
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from distributions.hashing import canonical_hash
from distributions.models import GENESIS_HASH, Account, Balance, LedgerEntry

# Below this many entries one process is faster than starting workers.
PARALLEL_FROM = 200_000
FETCH = 10_000


def grams_sql(vendor: str, column: str) -> str:
    """SQL rendering a grams column as text with exactly three decimals."""
    if vendor == "postgresql":
        return f"{column}::text"
    return f"printf('%%.3f', {column})"


def timestamp_sql(vendor: str, column: str) -> str:
    """SQL rendering a timestamp column as ``datetime.astimezone(UTC).isoformat()`` does."""
    if vendor == "postgresql":
        return (
            f"""replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00', """
            "'.000000+', '+')"
        )
    # SQLite holds UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
    return f"replace({column}, ' ', 'T') || '+00:00'"


def _mg(text: str) -> int:
    return int(text.replace(".", ""))


def _grams(mg: int) -> Decimal:
    return Decimal(mg).scaleb(-3)


@dataclass(frozen=True)
class Problem:
    message: str
    entry_id: int | None = None
    chain: str = ""
    seq: int | None = None

    def __str__(self) -> str:
        where = f"entry #{self.entry_id} (chain {self.chain}, seq {self.seq}): " if self.entry_id is not None else ""
        if self.entry_id is None and self.chain:
            where = f"chain {self.chain}: "
        return where + self.message


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    balances: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first broken entry by id; problems not tied to one entry come after."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.entry_id is None, p.entry_id or 0))

    def summary(self) -> str:
        rate = self.entries / self.seconds if self.seconds else 0
        counts = f"{self.entries} entries in {self.chains} chains, {self.balances} balances, {self.seconds:.2f} s ({rate:,.0f} entries/s)"
        if self.ok:
            return f"Ledger OK: {counts}."
        return f"Ledger BROKEN: {self.first}. {len(self.problems)} problem(s) in total; checked {counts}."


@dataclass
class _Part:
    """What one range of chains says: its problems, the grams it moves per balance, its chains."""

    entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    sums: dict[tuple[int, int], int] = field(default_factory=dict)
    chains: set[str] = field(default_factory=set)


def _entries_sql(db, lo: str | None, hi: str | None) -> tuple[str, list]:
    vendor, quote = db.vendor, db.ops.quote_name
    where, params = [], []
    if lo is not None:
        where.append("chain >= %s")
        params.append(lo)
    if hi is not None:
        where.append("chain < %s")
        params.append(hi)
    # Table and column names are the model's own; values only travel as parameters.
    columns = (
        f"id, kind, batch_id, from_account_id, to_account_id, {grams_sql(vendor, 'grams')}, member_id, recorded_by_id, "
        f"{timestamp_sql(vendor, 'recorded_at')}, {timestamp_sql(vendor, 'occurred_at')}, "
        "idempotency_key, reason, reverses_id, chain, chain_seq, prev_hash, hash"
    )
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {columns} FROM {quote(LedgerEntry._meta.db_table)} {condition} ORDER BY chain, chain_seq"  # noqa: S608
    return sql, params


def _stream(db):
    """A cursor that streams rows. On PostgreSQL (always inside a transaction here) a server-side
    cursor in binary, which spares both ends formatting and parsing the integers."""
    if db.vendor == "postgresql":
        db.ensure_connection()
        return db.connection.cursor(name="verify_ledger", binary=True)
    return db.chunked_cursor()


def _chain_end_problems(
    chain: str, head: tuple[int, str] | None, last_seq: int, last_hash: str, broken: bool
) -> list[Problem]:
    """Whether a chain read to its end agrees with its head (a broken chain was reported already)."""
    if head is None:
        return [Problem("no balance heads this chain: its entries were inserted or its head deleted", chain=chain)]
    head_seq, head_hash = head
    if broken or (head_seq == last_seq and head_hash == last_hash):
        return []
    if head_seq > last_seq:
        message = f"the chain ends at entry {last_seq} but its head says {head_seq}: entries were deleted"
    else:
        message = f"the chain runs to entry {last_seq} but its head says {head_seq}: entries were inserted"
    return [Problem(message, chain=chain)]


def _check_chains(
    db, lo: str | None, hi: str | None, heads: dict[str, tuple[int, str]], internal: dict[int, bool], tick: Callable[[int], None]
) -> _Part:
    """Walk every chain whose name is in [lo, hi) in order: links, sequence, hash, head."""
    part = _Part()
    problems, seen = part.problems, part.chains
    sums: dict[tuple[int, int], int] = defaultdict(int)
    chain, expected_seq, prev = None, 1, GENESIS_HASH
    broken_chain = False

    def close_chain() -> None:
        if chain is not None:
            problems.extend(_chain_end_problems(chain, heads.get(chain), expected_seq - 1, prev, broken_chain))

    sql, params = _entries_sql(db, lo, hi)
    n = 0
    with _stream(db) as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH):
            for row in rows:
                # The columns of ``_entries_sql``: the id, the hashed fields in ``HASHED_FIELDS``
                # order (moments and grams as the text the hash covers), the stored hash.
                (entry_id, kind, batch_id, from_id, to_id, grams, member_id, by_id, recorded_at, occurred_at, key,
                 reason, reverses_id, entry_chain, seq, prev_hash, stored_hash) = row
                if entry_chain != chain:
                    close_chain()
                    chain, expected_seq, prev, broken_chain = entry_chain, 1, GENESIS_HASH, False
                    seen.add(chain)
                mg = _mg(grams)
                sums[(from_id, batch_id)] -= mg
                sums[(to_id, batch_id)] += mg
                if not broken_chain:
                    problem = None
                    owner = from_id if internal.get(from_id) else to_id
                    if entry_chain != f"{owner}.{batch_id}":
                        problem = "it is on a chain its accounts do not belong to: it was inserted or moved"
                    elif seq != expected_seq:
                        problem = f"the chain jumps from entry {expected_seq - 1} to {seq}: entries before it were deleted"
                    elif prev_hash != prev:
                        problem = "it does not link to the entry before it: an entry was deleted, inserted or replaced"
                    elif canonical_hash(
                        kind, batch_id, from_id, to_id, grams, member_id, by_id, recorded_at, occurred_at, key, reason,
                        reverses_id, entry_chain, seq, prev_hash,
                    ) != stored_hash:
                        problem = "its content does not match its hash: it was edited"
                    if problem is not None:
                        problems.append(Problem(problem, entry_id=entry_id, chain=entry_chain, seq=seq))
                        # The rest of this chain cannot be trusted; report it once.
                        broken_chain = True
                prev, expected_seq = stored_hash, seq + 1
            n += len(rows)
            tick(len(rows))
    close_chain()
    part.entries = n
    part.sums = dict(sums)
    return part


def _ranges(names: list[str], weights: list[int], jobs: int) -> list[tuple[str | None, str | None]]:
    """Cut the chain names (in the database's order) into ``jobs`` ranges of about equal entries."""
    total = sum(weights)
    bounds: list[str] = []
    done = 0
    for index, (name, weight) in enumerate(zip(names, weights, strict=True)):
        # A chain starts the next range when more than half of it lies past this range's share.
        if index and len(bounds) < jobs - 1 and done + weight / 2 > total * (len(bounds) + 1) / jobs:
            bounds.append(name)
        done += weight
    edges: list[str | None] = [None, *bounds, None]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _in_worker(alias, snapshot, lo, hi, heads, internal, queue) -> None:
    """Body of a forked worker: its own connection, in the parent's snapshot on PostgreSQL."""
    try:
        # A fresh connection object: the inherited one belongs to the parent and is left untouched.
        db = connections.create_connection(alias)
        try:
            if snapshot is not None:
                db.set_autocommit(False)
                with db.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            part = _check_chains(db, lo, hi, heads, internal, lambda k: queue.put(("tick", k)))
            if snapshot is not None:
                db.rollback()
        finally:
            db.close()
        queue.put(("done", part))
    except BaseException:
        queue.put(("error", traceback.format_exc()))


def _run_parallel(alias, snapshot, ranges, heads, internal, tick) -> list[_Part]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_in_worker, args=(alias, snapshot, lo, hi, heads, internal, queue), daemon=True)
        for lo, hi in ranges
    ]
    for worker in workers:
        worker.start()
    parts: list[_Part] = []
    try:
        while len(parts) < len(workers):
            try:
                kind, payload = queue.get(timeout=1)
            except queues.Empty:  # check that no worker died without a word
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise RuntimeError("a verify_ledger worker died") from None
                continue
            if kind == "tick":
                tick(payload)
            elif kind == "done":
                parts.append(payload)
            else:
                raise RuntimeError(f"a verify_ledger worker failed:\n{payload}")
    finally:
        for worker in workers:
            if worker.is_alive() and len(parts) < len(workers):
                worker.terminate()
            worker.join()
    return parts


def verify_ledger(
    *, progress: Callable[[int, int], None] | None = None, progress_every: int = 100_000, jobs: int | None = None
) -> Report:
    """Verify every chain, chain head and balance.

    ``jobs`` worker processes (default: one per CPU) share the chains when the ledger is large
    and the database can be read from other connections: PostgreSQL outside a transaction (the
    workers import its snapshot) or an SQLite file. Inside a transaction (whose uncommitted
    writes only this connection sees) the check runs in this process.
    """
    alias = DEFAULT_DB_ALIAS
    db = connections[alias]
    if db.vendor == "postgresql" and not db.in_atomic_block:
        with transaction.atomic(using=alias):
            return _verify(db, alias, progress, progress_every, jobs, own_transaction=True)
    return _verify(db, alias, progress, progress_every, jobs, own_transaction=False)


def _verify(db, alias, progress, progress_every, jobs, *, own_transaction: bool) -> Report:
    started = time.monotonic()
    report = Report()
    problems = report.problems
    vendor, quote = db.vendor, db.ops.quote_name

    snapshot = None
    with db.cursor() as cursor:
        if own_transaction:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
                raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
        cursor.execute(f"SELECT id, kind FROM {quote(Account._meta.db_table)}")  # noqa: S608
        internal = {pk: kind in Account.INTERNAL_KINDS for pk, kind in cursor.fetchall()}
        # The heads in the order the database sorts chain names, to cut that order into ranges.
        columns = (
            f"account_id, batch_id, {grams_sql(vendor, 'grams')}, internal, last_seq, last_hash, "
            "CAST(account_id AS TEXT) || '.' || CAST(batch_id AS TEXT) AS name"
        )
        cursor.execute(f"SELECT {columns} FROM {quote(Balance._meta.db_table)} ORDER BY name", [])  # noqa: S608
        balance_rows = cursor.fetchall()
    heads, balances, names, weights = _heads_and_balances(balance_rows)
    report.balances = len(balances)

    total = sum(weights)  # what the heads say; the count actually read is reported
    done, next_report = 0, progress_every

    def tick(k: int) -> None:
        nonlocal done, next_report
        done += k
        while progress is not None and done >= next_report:
            progress(next_report, total)
            next_report += progress_every

    jobs = jobs or os.cpu_count() or 1
    can_fork = hasattr(os, "fork") and (
        snapshot is not None or (vendor == "sqlite" and not db.in_atomic_block and not db.is_in_memory_db())
    )
    if jobs > 1 and can_fork and total >= PARALLEL_FROM and len(names) > 1:
        if snapshot is None:
            db.close()  # an SQLite parent holds nothing the workers need; no handle crosses the fork open
        parts = _run_parallel(alias, snapshot, _ranges(names, weights, jobs), heads, internal, tick)
    else:
        parts = [_check_chains(db, None, None, heads, internal, tick)]

    sums: dict[tuple[int, int], int] = defaultdict(int)
    seen_chains: set[str] = set()
    for part in parts:
        report.entries += part.entries
        problems.extend(part.problems)
        seen_chains |= part.chains
        for key, mg in part.sums.items():
            sums[key] += mg
    report.chains = len(seen_chains)

    for name in heads.keys() - seen_chains:
        head_seq, _hash = heads[name]
        if head_seq:
            problems.append(Problem(f"its head says {head_seq} entries but none were found: they were deleted", chain=name))
    problems.extend(_balance_problems(balances, sums, internal))

    report.seconds = time.monotonic() - started
    return report


def _heads_and_balances(rows):
    """From the balance rows (in chain-name order): each internal chain's head, every balance in
    milligrams, and the chain names with their lengths, to cut into ranges for the workers."""
    heads: dict[str, tuple[int, str]] = {}
    balances: dict[tuple[int, int], int] = {}
    names: list[str] = []
    weights: list[int] = []
    for account_id, batch_id, grams, is_internal, last_seq, last_hash, name in rows:
        balances[(account_id, batch_id)] = _mg(grams)
        if is_internal:
            heads[name] = (last_seq, last_hash)
            names.append(name)
            weights.append(max(last_seq, 0))
    return heads, balances, names, weights


def _balance_problems(
    balances: dict[tuple[int, int], int], sums: dict[tuple[int, int], int], internal: dict[int, bool]
) -> list[Problem]:
    """Each stored balance against the sum of its entries; internal ones never negative; each
    batch's balances summing to zero. Milligrams throughout."""
    problems: list[Problem] = []
    per_batch: dict[int, int] = defaultdict(int)
    for key in balances.keys() | sums.keys():
        account_id, batch_id = key
        stored, recomputed = balances.get(key), sums.get(key, 0)
        if stored is None:
            if recomputed != 0:
                problems.append(
                    Problem(f"account {account_id} has entries for batch {batch_id} summing to {_grams(recomputed)} g but no balance row")
                )
            continue
        per_batch[batch_id] += stored
        if stored != recomputed:
            problems.append(
                Problem(
                    f"the balance of account {account_id} for batch {batch_id} is {_grams(stored)} g "
                    f"but its entries sum to {_grams(recomputed)} g"
                )
            )
        if internal.get(account_id) and stored < 0:
            problems.append(Problem(f"the internal balance of account {account_id} for batch {batch_id} is negative ({_grams(stored)} g)"))
    for batch_id, total_mg in per_batch.items():
        if total_mg != 0:
            problems.append(Problem(f"the balances of batch {batch_id} sum to {_grams(total_mg)} g, not zero"))
    return problems
