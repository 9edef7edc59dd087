"""A desk visit: what one member receives at one time, several substances at once.

``visit_record`` records every line (a batch and the grams of it) in one durable
transaction, each through ``distribution_write``, the rule ``distribution_record`` applies:
either every line is recorded or none is. Lines after the first see the ones before them, so
two lines of one substance count together against the allowance. One idempotency key covers
the visit; each line's entry is keyed ``<visit key>.<batch id>``, so a resubmitted visit
(a double click, a retry after a dropped connection) returns the entries of the first and
writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from compassionclub.errors import ServiceError
from distributions.models import LedgerEntry
from distributions.services.ledger import distribution_write
from members.models import Member
from testing_results.models import Batch

__all__ = ["VisitLine", "visit_record"]

# The line keys append "." and a batch id to the visit's key, within the entry key's 64 characters.
MAX_VISIT_KEY = 40


@dataclass(frozen=True)
class VisitLine:
    batch: Batch
    grams: Decimal | str


def _line_key(visit_key: str, line: VisitLine) -> str:
    return f"{visit_key}.{line.batch.pk}"


def visit_record(
    *, member: Member, lines: Sequence[VisitLine], by, idempotency_key: str, occurred_at: dt.datetime | None = None
) -> list[LedgerEntry]:
    """Record every line of a visit or none; the entries come back in the order of ``lines``.

    Refuses ``visit_empty`` (no line), ``visit_batch_twice`` (a batch on two lines: give it
    one line with the sum) and every refusal of ``distribution_record``, whose details then
    carry the ``batch_id`` of the line refused.
    """
    key = str(idempotency_key or "")
    if not key or len(key) > MAX_VISIT_KEY:
        raise ServiceError("idempotency_key_invalid", f"A visit needs a key of 1 to {MAX_VISIT_KEY} characters.")
    lines = list(lines)
    if not lines:
        raise ServiceError("visit_empty", "Enter the grams of at least one substance.")
    batch_ids = [line.batch.pk for line in lines]
    if len(set(batch_ids)) != len(batch_ids):
        raise ServiceError("visit_batch_twice", "A batch is on two lines; put its grams on one line.")
    keys = [_line_key(key, line) for line in lines]

    def write() -> dict[int, LedgerEntry]:
        written = {}
        # Store balances are locked in batch order, so two visits of one group never wait on
        # each other in a cycle (the member is locked first, by the first line).
        for line in sorted(lines, key=lambda line: line.batch.pk):
            try:
                written[line.batch.pk] = distribution_write(
                    member=member, batch=line.batch, grams=line.grams, by=by,
                    idempotency_key=_line_key(key, line), occurred_at=occurred_at,
                )
            except ServiceError as error:
                raise ServiceError(error.code, error.message_text, **{**error.details, "batch_id": line.batch.pk})
        return written

    try:
        with transaction.atomic(durable=True):
            written = write()
    except IntegrityError:
        # A concurrent resubmission of the same visit committed first; ours rolled back whole.
        existing = {e.batch_id: e for e in LedgerEntry.objects.filter(idempotency_key__in=keys, member_id=member.pk)}
        if len(existing) != len(lines):
            raise
        written = existing
    return [written[batch_id] for batch_id in batch_ids]
