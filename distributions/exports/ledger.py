"""The ledger as CSV, with every entry's hash and the chain verification of the period.

The period filters on ``recorded_at`` (the book's own order; ``occurred_at`` may be set back
for a distribution entered after the fact and is a column of its own). Rows are ordered by
``recorded_at`` then id, so the same data and period always give the same file.

Each row carries everything its hash covers (ids included), so anyone can recompute it, and
``chain_check``: ``ok`` when the entry's content still hashes to its ``hash`` and its
``prev_hash`` is the hash of the entry before it in its chain, or what is wrong. The
predecessor's hash is read by a subquery in the same query, so the check costs no query per
row and works whichever entries the period (or a coordinator's scope) leaves out. The last row
is the period's verification summary: first cell ``verify_ledger``, then ``ok`` or ``broken``
and what was checked with its first broken entry.

The whole ledger, chain heads and balances included (what ``manage.py verify_ledger`` runs), is
a separate export, ``ledger_verification``, for users who see every group: it reads every entry
ever written, which an export of one period should not have to wait for.

Coordinators get the entries that touch their groups' stores or members, as in the admin.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import F, OuterRef, Subquery

from compassionclub.errors import not_permitted
from distributions.exports.base import CSV, Exporter, register
from distributions.hashing import HASHED_FIELDS, entry_hash
from distributions.models import GENESIS_HASH, LedgerEntry
from distributions.visibility import entries_visible_to

LEDGER_COLUMNS = [
    "entry_id", "recorded_at", "occurred_at", "kind", "batch_code", "substance",
    "from_account", "to_account", "grams", "member_code", "recorded_by", "reason", "reverses_entry_id",
    "batch_id", "from_account_id", "to_account_id", "member_id", "recorded_by_id", "idempotency_key",
    "chain", "chain_seq", "prev_hash", "hash", "chain_check", "member_previous_codes",
]
SUMMARY_MARKER = "verify_ledger"
FULL_MARKER = "verify_ledger_whole"
VERIFICATION_COLUMNS = ["check", "result", "detail"]


# What a row reads, as plain values: no model instances (eight per row with select_related,
# most of their columns never written out) and only the two moments the file has.
ROW_FIELDS = (
    "id", "recorded_at", "occurred_at", "kind", "batch__code", "batch__substance__name",
    "from_account__kind", "from_account__group__short_name", "to_account__kind", "to_account__group__short_name",
    "grams", "member__code", "recorded_by__username", "reason", "reverses_id",
    "batch_id", "from_account_id", "to_account_id", "member_id", "recorded_by_id", "idempotency_key",
    "chain", "chain_seq", "prev_hash", "hash", "predecessor_hash",
)


def _account_label(kind: str, group_short_name: str | None) -> str:
    return f"group:{group_short_name}" if group_short_name is not None else kind


def entry_chain_check(row, predecessor_hash: str | None) -> str:
    """'ok' or what is wrong with one entry (a ``LedgerEntry`` or a row with its hashed fields),
    given the hash of the entry before it in its chain."""
    if entry_hash(*(getattr(row, name) for name in HASHED_FIELDS)) != row.hash:
        return "content does not match its hash (edited)"
    if row.chain_seq == 1:
        if row.prev_hash != GENESIS_HASH:
            return "first entry of its chain does not start from the genesis hash"
    elif predecessor_hash is None:
        return f"entry {row.chain_seq - 1} of its chain is missing (deleted)"
    elif predecessor_hash != row.prev_hash:
        return "does not link to the entry before it in its chain"
    return "ok"


@register
class LedgerCsv(Exporter):
    identifier = "ledger"
    verbose_name = "Ledger (CSV, with hashes and verification)"
    description = "Every entry recorded in the period, its hash, and whether the chain verifies."
    formats = (CSV,)
    parameters = ("date_from", "date_to", "substance_id", "member_code")

    def __init__(self, *, user, params) -> None:
        super().__init__(user=user, params=params)
        self.checked = 0
        self.first_broken: tuple[int, str] | None = None

    def header(self) -> list[str]:
        return LEDGER_COLUMNS

    def queryset(self):
        p = self.params
        start, end = p.local_range()
        qs = LedgerEntry.objects.all()
        if start:
            qs = qs.filter(recorded_at__gte=start)
        if end:
            qs = qs.filter(recorded_at__lt=end)
        if p.substance_id:
            qs = qs.filter(batch__substance_id=p.substance_id)
        if p.member_code:
            qs = qs.filter(member__code=self.member_filter())
        qs = entries_visible_to(self.user, qs)
        # Unordered: the model's ordering would add a sort per row to a lookup of one row by a
        # unique (chain, chain_seq).
        predecessor = LedgerEntry.objects.filter(chain=OuterRef("chain"), chain_seq=OuterRef("chain_seq") - 1).order_by()
        return qs.annotate(predecessor_hash=Subquery(predecessor.values("hash")[:1])).order_by(F("recorded_at").asc(), "id")

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
        for e in self.queryset().values_list(*ROW_FIELDS, named=True).iterator(chunk_size=self.chunk_size):
            result = entry_chain_check(e, e.predecessor_hash)
            self.checked += 1
            if result != "ok" and self.first_broken is None:
                self.first_broken = (e.id, result)
            yield [
                e.id, e.recorded_at, e.occurred_at, e.kind, e.batch__code, e.batch__substance__name,
                _account_label(e.from_account__kind, e.from_account__group__short_name),
                _account_label(e.to_account__kind, e.to_account__group__short_name), e.grams,
                e.member__code or "", e.recorded_by__username, e.reason, e.reverses_id,
                e.batch_id, e.from_account_id, e.to_account_id, e.member_id, e.recorded_by_id, e.idempotency_key,
                e.chain, e.chain_seq, e.prev_hash, e.hash, result, previous.get(e.member_id, ""),
            ]

    def trailer(self) -> Iterator[Sequence[Any]]:
        if self.first_broken is None:
            yield [SUMMARY_MARKER, "ok", f"period: {self.checked} entries checked, every hash and link verifies"]
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
