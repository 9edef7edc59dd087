"""The ledger's part of a signed checkpoint (``compassionclub.audit.checkpoints``): every chain
head (``Balance.last_seq``/``last_hash`` of each internal balance) and how many entries there
are, read in one transaction with the audit head."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q

from compassionclub.audit import checkpoints
from distributions.models import Balance, LedgerEntry, chain_name

BATCH = 500


def checkpoint_payload() -> dict[str, Any]:
    connection = transaction.get_connection()
    nested = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not nested:
            # One snapshot for every head, so the checkpoint is of one moment.
            connection.cursor().execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        chains = {
            chain_name(account_id, batch_id): [seq, last_hash]
            for account_id, batch_id, seq, last_hash in Balance.objects.filter(last_seq__gt=0)
            .values_list("account_id", "batch_id", "last_seq", "last_hash").order_by("account_id", "batch_id")
        }
        return {
            "audit": checkpoints.audit_head(),
            "ledger": {"entries": LedgerEntry.objects.count(), "chains": chains},
        }


def ledger_extends(payload: dict[str, Any]) -> list[str]:
    """Why the ledger does not extend the checkpoint (empty when it does): each checkpointed chain
    must still hold, at the checkpointed position, the entry with the checkpointed hash."""
    chains: dict[str, list] = (payload.get("ledger") or {}).get("chains") or {}
    problems: list[str] = []
    items = sorted(chains.items())
    for start in range(0, len(items), BATCH):
        part = items[start:start + BATCH]
        where = Q()
        for name, (seq, _hash) in part:
            where |= Q(chain=name, chain_seq=seq)
        found = {(c, s): h for c, s, h in LedgerEntry.objects.filter(where).values_list("chain", "chain_seq", "hash")}
        for name, (seq, expected) in part:
            actual = found.get((name, seq))
            if actual is None:
                problems.append(f"chain {name}: entry #{seq}, the checkpoint's head, is gone (the chain was truncated)")
            elif actual != expected:
                problems.append(f"chain {name}: entry #{seq} no longer has the hash the checkpoint signed: "
                                "the chain up to it was rewritten")
    return problems
