"""The generator's ledger, played forward in time one event at a time, exactly as the services
would have written it (see ``bench.generate``): each entry hashed onto the chain of the
internal balance it belongs to, the balances and chain heads kept as running totals, and the
rows streamed into the table. Written straight into the tables, not through the services, for
speed; ``manage.py bench_seed`` verifies the result with the ledger's own verification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from operator import attrgetter
from typing import TYPE_CHECKING

from django.core.management.color import no_style
from django.db import connection

from distributions.models import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Account,
    Balance,
    LedgerEntry,
    Manifest,
    WitnessedDestruction,
    chain_name,
    entry_hash,
)
from testing_results.models import Batch

if TYPE_CHECKING:
    from bench.generate import Generator

class Row:
    """One ledger entry's columns, without the cost of a model instance."""

    __slots__ = (
        "id", "kind", "batch_id", "from_account_id", "to_account_id", "grams", "member_id",
        "recorded_by_id", "recorded_at", "occurred_at", "idempotency_key", "reason", "reverses_id",
        "chain", "chain_seq", "prev_hash", "hash",
    )


_hashed_fields = attrgetter(*HASHED_FIELDS)


def _hash(row: Row) -> str:
    """The ledger's own hash of an entry (``distributions.models.entry_hash``)."""
    return entry_hash(*_hashed_fields(row))


def mg_to_grams(mg: int) -> Decimal:
    return Decimal(mg).scaleb(-3)


CHUNK = 20_000
MIN_GAP = 2 * 86_400  # at most four pick-ups of 3.5 g in any 7 days: never over 14 g


class LedgerPlay:
    """One play of the generator's events into ledger entries, manifests and witnessed
    destructions, then the balances they leave."""

    def __init__(self, gen: Generator, *, checker: int, admin: int, root: int) -> None:
        self.gen, self.rng = gen, gen.rng
        acc = gen.accounts
        self.central, self.supplier, self.members_acc = acc[Account.Kind.CENTRAL], acc[Account.Kind.SUPPLIER], acc[Account.Kind.MEMBERS]
        self.lab, self.destroyed, self.in_transit = acc[Account.Kind.LAB], acc[Account.Kind.DESTROYED], acc[Account.Kind.IN_TRANSIT]
        self.internal = {self.central, self.in_transit, *gen.store_of.values()}
        self.group_pk = [g.pk for g in gen.groups]
        self.checker, self.admin, self.root = checker, admin, root
        self.start_id = (LedgerEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        self.next_id = self.start_id
        self.balances: dict[tuple[int, int], int] = {}
        self.heads: dict[tuple[int, int], tuple[int, str]] = {}
        self.open_distributions: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self.next_allowed: dict[int, int] = {}
        self.writer = EntryWriter()
        self.on_the_road: dict[tuple[int, int], tuple[int, int]] = {}
        self.manifests: list[Manifest] = []
        self.witnessed: list[WitnessedDestruction] = []
        self.skipped = 0

    def run(self) -> int:
        gen = self.gen
        events = gen._events()
        total = len(events)
        report_every = max(1, total // 10)
        play = {"intake": self.intake, "sample": self.sample, "send": self.send, "receive": self.receive,
                "distribution": self.distribution, "reversal": self.reversal, "destroy_group": self.destroy_group,
                "destroy_central": self.destroy_central}
        for n, (t, _order, kind, bi, a, b) in enumerate(events, 1):
            if n % report_every == 0:
                gen.log(f"      ledger: {n * 100 // total}% of {total:,} events, {self.next_id - self.start_id:,} entries")
            play[kind](t, bi, gen.batch_plans[bi], a, b)
        return self.finish()

    def append(self, t, kind, batch_id, src, dst, mg, by, *, member=None, reason="", reverses=None, key=None) -> int:
        chain_acc = src if src in self.internal else dst
        seq, prev = self.heads.get((chain_acc, batch_id), (0, GENESIS_HASH))
        occurred = self.gen.start + dt.timedelta(seconds=t)
        r = Row()
        r.id, r.kind, r.batch_id, r.from_account_id, r.to_account_id = self.next_id, kind, batch_id, src, dst
        r.grams, r.member_id, r.recorded_by_id = mg_to_grams(mg), member, by
        r.occurred_at, r.recorded_at = occurred, occurred + dt.timedelta(seconds=self.rng.randrange(1, 90))
        r.idempotency_key = key or f"seed-{self.next_id}"
        r.reason, r.reverses_id = reason, reverses
        r.chain, r.chain_seq, r.prev_hash = chain_name(chain_acc, batch_id), seq + 1, prev
        r.hash = _hash(r)
        self.heads[(chain_acc, batch_id)] = (seq + 1, r.hash)
        balances = self.balances
        balances[(src, batch_id)] = balances.get((src, batch_id), 0) - mg
        balances[(dst, batch_id)] = balances.get((dst, batch_id), 0) + mg
        if src in self.internal and balances[(src, batch_id)] < 0:
            raise AssertionError(f"generator overdrew account {src} for batch {batch_id}")
        self.writer.add(r)
        self.next_id += 1
        return r.id

    # One method per kind of event: (time, batch plan index, the batch's plan, a, b).

    def intake(self, t, bi, p, a, b) -> None:
        self.append(t, LedgerEntry.Kind.INTAKE, p["id"], self.supplier, self.central, a, self.checker, key=f"intake-{p['id']}")

    def sample(self, t, bi, p, a, b) -> None:
        self.append(t, LedgerEntry.Kind.SAMPLE, p["id"], self.central, self.lab, b, self.checker, key=f"sample-{a}")

    def send(self, t, bi, p, a, b) -> None:
        entry_id = self.append(t, LedgerEntry.Kind.MANIFEST_SEND, p["id"], self.central, self.in_transit, b, self.admin)
        self.on_the_road[(bi, a)] = (entry_id, t)

    def receive(self, t, bi, p, a, b) -> None:
        gen, gid, batch_id = self.gen, self.group_pk[a], p["id"]
        send_id, sent = self.on_the_road.pop((bi, a))
        receive_id = self.append(t, LedgerEntry.Kind.MANIFEST_RECEIVE, batch_id, self.in_transit, gen.store_of[gid], b,
                                 gen.coordinator_of[gid], key=f"seed-manifest-{send_id}-receive")
        self.manifests.append(Manifest(
            batch_id=batch_id, from_store_id=self.central, to_store_id=gen.store_of[gid], grams_sent=mg_to_grams(b),
            packages=max(1, b // 25_000), status=Manifest.Status.RECEIVED, sent_by_id=self.admin,
            sent_at=gen.start + dt.timedelta(seconds=sent), send_entry_id=send_id,
            received_by_id=gen.coordinator_of[gid], received_at=gen.start + dt.timedelta(seconds=t),
            grams_received=mg_to_grams(b), receive_entry_id=receive_id,
        ))

    def distribution(self, t, bi, p, a, b) -> None:
        gen, rng, gid = self.gen, self.rng, self.group_pk[a]
        pool = gen.receivers[gid]
        member = None
        for _ in range(24 if pool else 0):
            candidate = pool[rng.randrange(len(pool))]
            if self.next_allowed.get(candidate, -MIN_GAP) + MIN_GAP <= t < gen.renewal_cutoff[candidate]:
                member = candidate
                break
        if member is None:
            self.skipped += 1
            return
        self.next_allowed[member] = t
        entry_id = self.append(t, LedgerEntry.Kind.DISTRIBUTION, p["id"], gen.store_of[gid], self.members_acc, b,
                               gen.coordinator_of[gid], member=member)
        self.open_distributions.setdefault((bi, a), []).append((entry_id, member, b))

    def reversal(self, t, bi, p, a, b) -> None:
        recent = self.open_distributions.get((bi, a))
        if not recent:
            return
        entry_id, member, mg = recent.pop()
        gid = self.group_pk[a]
        self.append(t, LedgerEntry.Kind.REVERSAL, p["id"], self.members_acc, self.gen.store_of[gid], mg,
                    self.gen.coordinator_of[gid], member=member, reason=LedgerEntry.ReversalReason.DUPLICATE,
                    reverses=entry_id, key=f"reversal-{entry_id}")

    def destroy_group(self, t, bi, p, a, b) -> None:
        batch_id, store = p["id"], self.gen.store_of[self.group_pk[a]]
        left = self.balances.get((store, batch_id), 0)
        if left > 0:
            entry_id = self.append(t, LedgerEntry.Kind.DESTRUCTION, batch_id, store, self.destroyed, left, self.admin,
                                   reason=LedgerEntry.DestructionReason.RECALLED)
            self.witnessed.append(WitnessedDestruction(entry_id=entry_id, destroyed_by_id=self.admin,
                                                       witness_id=self.gen.coordinator_of[self.group_pk[a]],
                                                       method="incineration"))

    def destroy_central(self, t, bi, p, a, b) -> None:
        batch_id = p["id"]
        left = self.balances.get((self.central, batch_id), 0)
        if left > 0:
            reasons = LedgerEntry.DestructionReason
            reason = reasons.RECALLED if p["status"] == Batch.Status.RECALLED else reasons.DAMAGED
            entry_id = self.append(t, LedgerEntry.Kind.DESTRUCTION, batch_id, self.central, self.destroyed, left, self.admin,
                                   reason=reason)
            self.witnessed.append(WitnessedDestruction(entry_id=entry_id, destroyed_by_id=self.admin, witness_id=self.root,
                                                       method="hazardous_waste"))

    def finish(self) -> int:
        """Write what is still pending, the manifests, the destructions and the balances."""
        self.writer.close()
        Manifest.objects.bulk_create(self.manifests, batch_size=5000)
        WitnessedDestruction.objects.bulk_create(self.witnessed, batch_size=5000)
        heads = self.heads
        rows = [
            Balance(account_id=account_id, batch_id=batch_id, grams=mg_to_grams(mg), internal=account_id in self.internal,
                    last_seq=heads.get((account_id, batch_id), (0, GENESIS_HASH))[0],
                    last_hash=heads.get((account_id, batch_id), (0, GENESIS_HASH))[1])
            for (account_id, batch_id), mg in sorted(self.balances.items())
        ]
        Balance.objects.bulk_create(rows, batch_size=5000)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [LedgerEntry]):
                    cursor.execute(sql)
        entries = self.next_id - self.start_id
        self.gen.counts.update(entries=entries, balances=len(rows), distribution_slots_without_member=self.skipped,
                               manifests=len(self.manifests), witnessed_destructions=len(self.witnessed))
        return entries + len(rows) + len(self.manifests) + len(self.witnessed)


class EntryWriter:
    """Streams ledger rows into the table: ``COPY`` on PostgreSQL, ``executemany`` elsewhere."""

    def __init__(self) -> None:
        self.fields = list(LedgerEntry._meta.concrete_fields)
        self.table = connection.ops.quote_name(LedgerEntry._meta.db_table)
        self.columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.pending: list[Row] = []

    def add(self, row: Row) -> None:
        self.pending.append(row)
        if len(self.pending) >= CHUNK:
            self.flush()

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        attnames = [f.attname for f in self.fields]
        values: Iterable[list] = ([getattr(r, a) for a in attnames] for r in self.pending)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:  # noqa: S608
                    for row in values:
                        copy.write_row(row)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                datetime_positions = [i for i, f in enumerate(self.fields) if f.get_internal_type() == "DateTimeField"]
                prepared = []
                for row in values:
                    for i in datetime_positions:
                        row[i] = adapt(row[i])
                    prepared.append(row)
                placeholders = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})", prepared)  # noqa: S608
        self.pending.clear()


