"""Recompute the ledger from its entries and compare with what the database says.

Used by ``manage.py verify_ledger`` (and the benchmark). Reads every entry once, in chain
order, as plain tuples (no model instances), so it runs at the speed of SHA-256 and a cursor.

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

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from distributions.models import (
    GENESIS_HASH,
    HASHED_FIELDS,
    ZERO,
    Account,
    Balance,
    LedgerEntry,
    chain_name,
    entry_hash,
)

MG = Decimal("0.001")


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


def verify_ledger(*, progress: Callable[[int, int], None] | None = None, progress_every: int = 100_000) -> Report:
    started = time.monotonic()
    report = Report()
    problems = report.problems

    internal = {pk: kind in Account.INTERNAL_KINDS for pk, kind in Account.objects.values_list("pk", "kind")}
    heads: dict[str, tuple[int, str]] = {}
    balances: dict[tuple[int, int], Decimal] = {}
    for account_id, batch_id, grams, is_internal, last_seq, last_hash in Balance.objects.values_list(
        "account_id", "batch_id", "grams", "internal", "last_seq", "last_hash"
    ).iterator(chunk_size=10_000):
        balances[(account_id, batch_id)] = Decimal(grams).quantize(MG)
        if is_internal:
            heads[chain_name(account_id, batch_id)] = (last_seq, last_hash)
    report.balances = len(balances)

    total = LedgerEntry.objects.count()
    sums: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    columns = ("id", *HASHED_FIELDS, "hash")
    chain, expected_seq, prev = None, 1, GENESIS_HASH
    seen_chains: set[str] = set()
    broken_chain = False

    def close_chain() -> None:
        if chain is None:
            return
        head_seq, head_hash = heads.get(chain, (None, None))
        last_seq = expected_seq - 1
        if head_seq is None:
            problems.append(Problem("no balance heads this chain: its entries were inserted or its head deleted", chain=chain))
        elif not broken_chain and (head_seq != last_seq or head_hash != prev):
            if head_seq > last_seq:
                message = f"the chain ends at entry {last_seq} but its head says {head_seq}: entries were deleted"
            else:
                message = f"the chain runs to entry {last_seq} but its head says {head_seq}: entries were inserted"
            problems.append(Problem(message, chain=chain))

    rows = LedgerEntry.objects.order_by("chain", "chain_seq").values_list(*columns)
    n = 0
    for n, row in enumerate(rows.iterator(chunk_size=5_000), 1):
        entry_id, stored_hash = row[0], row[-1]
        fields = row[1:-1]
        batch_id, from_id, to_id, grams = fields[1], fields[2], fields[3], fields[4]
        entry_chain, seq, prev_hash = fields[12], fields[13], fields[14]
        if entry_chain != chain:
            close_chain()
            chain, expected_seq, prev, broken_chain = entry_chain, 1, GENESIS_HASH, False
            seen_chains.add(chain)
        grams = Decimal(grams).quantize(MG)
        sums[(from_id, batch_id)] -= grams
        sums[(to_id, batch_id)] += grams
        if not broken_chain:
            problem = None
            owner = from_id if internal.get(from_id) else to_id
            if entry_chain != chain_name(owner, batch_id):
                problem = "it is on a chain its accounts do not belong to: it was inserted or moved"
            elif seq != expected_seq:
                problem = f"the chain jumps from entry {expected_seq - 1} to {seq}: entries before it were deleted"
            elif prev_hash != prev:
                problem = "it does not link to the entry before it: an entry was deleted, inserted or replaced"
            elif entry_hash(*fields) != stored_hash:
                problem = "its content does not match its hash: it was edited"
            if problem is not None:
                problems.append(Problem(problem, entry_id=entry_id, chain=entry_chain, seq=seq))
                # The rest of this chain cannot be trusted; report it once.
                broken_chain = True
        prev, expected_seq = row[-1], seq + 1
        if progress is not None and n % progress_every == 0:
            progress(n, total)
    close_chain()
    report.entries = n
    report.chains = len(seen_chains)

    for name in heads.keys() - seen_chains:
        head_seq, _hash = heads[name]
        if head_seq:
            problems.append(Problem(f"its head says {head_seq} entries but none were found: they were deleted", chain=name))

    per_batch: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for key in balances.keys() | sums.keys():
        account_id, batch_id = key
        stored, recomputed = balances.get(key), sums.get(key, ZERO)
        if stored is None:
            if recomputed != 0:
                problems.append(Problem(f"account {account_id} has entries for batch {batch_id} summing to {recomputed} g but no balance row"))
            continue
        per_batch[batch_id] += stored
        if stored != recomputed:
            problems.append(
                Problem(f"the balance of account {account_id} for batch {batch_id} is {stored} g but its entries sum to {recomputed} g")
            )
        if internal.get(account_id) and stored < 0:
            problems.append(Problem(f"the internal balance of account {account_id} for batch {batch_id} is negative ({stored} g)"))
    for batch_id, total_grams in per_batch.items():
        if total_grams != 0:
            problems.append(Problem(f"the balances of batch {batch_id} sum to {total_grams} g, not zero"))

    report.seconds = time.monotonic() - started
    return report
