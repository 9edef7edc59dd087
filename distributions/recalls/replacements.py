"""Replacement: grams handed to a member in place of grams they received from a recalled batch.

A ``replacement`` ledger entry moves stock from the member's group store to the members
account, like a distribution, and is linked (``Replacement``; its hashed ``reason`` names the
distribution too) to the recalled distribution it replaces: at most that distribution's grams,
once, from a released batch of the same substance. A replacement undone (reversed by a
coordinator of the member's group, as a distribution is) makes room for another, numbered next;
the number is unique per distribution, so the database still keeps one per place.
It does not count against the allowance (``eligibility`` counts distributions only): the
recalled grams still do, because the member had them, and the replacement takes their place.

Guarantees as for a distribution: a retry with the same idempotency key returns the first
entry; the member's row is locked first (the ledger's lock order), so attempts for one
distribution are serialised and only one is stored, on PostgreSQL (16 threads) and on SQLite
(IMMEDIATE transactions).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.models import Account, LedgerEntry
from distributions.recalls.models import Replacement
from distributions.services.arguments import parse_grams, parse_key
from distributions.services.ledger import entry_append, group_account, ledger_write, system_account
from members.models import Member
from members.scoping import is_coordinator_of
from testing_results.models import Batch

__all__ = ["replacement_record"]

MG = Decimal("0.001")


def replacement_record(*, distribution: LedgerEntry, batch: Batch, grams, by, idempotency_key: str) -> LedgerEntry:
    """Hand ``grams`` of the released ``batch`` to the member of the recalled ``distribution``
    in its place. Refusals: grams, idempotency key, ``not_a_distribution``,
    ``not_coordinator``, ``distribution_reversed``, ``batch_not_recalled`` (the distribution's
    batch), ``wrong_substance``, ``over_recalled_grams``, ``already_replaced``,
    ``member_not_active``, the replacement batch's status (``batch_recalled``,
    ``batch_on_hold``, ``batch_not_released``), ``insufficient_stock``."""
    grams = parse_grams(grams)
    key = parse_key(idempotency_key, required=True)
    if distribution.kind != LedgerEntry.Kind.DISTRIBUTION or distribution.member_id is None:
        raise ServiceError("not_a_distribution", "Only a distribution to a member can be replaced.")
    expected = {"kind": LedgerEntry.Kind.REPLACEMENT, "member_id": distribution.member_id, "batch_id": batch.pk, "grams": grams}

    def write() -> LedgerEntry:
        existing = _existing(key, **expected)
        if existing is not None:
            return existing
        # The member first, as every writer of a member's entries does: attempts for one
        # distribution wait here for each other, and the next one sees the first one's row.
        member = Member.objects.select_for_update().get(pk=distribution.member_id)
        recalled = LedgerEntry.objects.select_related("batch").get(pk=distribution.pk)
        _check(member=member, recalled=recalled, batch=batch, grams=grams, by=by)
        # A replacement undone before (reversed) leaves its place: this one takes the next.
        sequence = Replacement.objects.filter(replaces_id=recalled.pk).count() + 1
        entry = entry_append(
            kind=LedgerEntry.Kind.REPLACEMENT,
            batch=batch,
            from_account=group_account(member.group_id),
            to_account=system_account(Account.Kind.MEMBERS),
            grams=grams,
            by=by,
            idempotency_key=key,
            reason=f"replaces entry {recalled.pk}",
            require_released=True,
            member_id=member.pk,
        )
        Replacement.objects.create(entry=entry, replaces=recalled, sequence=sequence)
        audit_log(
            action="recall.replacement_recorded", actor=by, target=entry,
            new={"replaces": recalled.pk, "batch": batch.pk, "grams": grams, "recalled_batch": recalled.batch_id},
        )
        return entry

    def attempt() -> LedgerEntry:
        try:
            return write()
        except ServiceError:
            # A retry whose first attempt committed while we waited for the member's lock.
            existing = _existing(key, **expected)
            if existing is not None:
                return existing
            raise

    try:
        return ledger_write(attempt, key, **expected)
    except IntegrityError:
        # Two attempts with different keys: the database kept one (``replaces`` and ``sequence``).
        if _standing(distribution.pk).exists():
            raise ServiceError("already_replaced", "These grams have already been replaced.")
        raise


def _check(*, member: Member, recalled: LedgerEntry, batch: Batch, grams: Decimal, by) -> None:
    """The replacement rule, read under the member's lock."""
    if not is_coordinator_of(by, member.group_id):
        raise ServiceError("not_coordinator", "Only a coordinator of the member's group can hand out a replacement.")
    if LedgerEntry.objects.filter(reverses_id=recalled.pk).exists():
        raise ServiceError("distribution_reversed", "This distribution was undone; there is nothing to replace.")
    if recalled.batch.status != Batch.Status.RECALLED:
        raise ServiceError(
            "batch_not_recalled", f"Batch {recalled.batch.code} is not recalled; only recalled grams are replaced."
        )
    if batch.substance_id != recalled.batch.substance_id:
        raise ServiceError("wrong_substance", "A replacement is of the same substance as what it replaces.")
    if grams > recalled.grams:
        raise ServiceError(
            "over_recalled_grams",
            f"At most {Decimal(recalled.grams).quantize(MG)} g can be replaced: that is what the member received.",
            recalled_grams=Decimal(recalled.grams).quantize(MG),
        )
    if _standing(recalled.pk).exists():
        raise ServiceError("already_replaced", "These grams have already been replaced.")
    if member.status != Member.Status.ACTIVE:
        raise ServiceError("member_not_active", "The membership is not active; a replacement cannot be handed out.")


def _standing(distribution_id: int):
    """The distribution's replacement that has not been undone, if any."""
    return Replacement.objects.filter(replaces_id=distribution_id, entry__reversed_by__isnull=True)


def _existing(key: str, **expected) -> LedgerEntry | None:
    """The entry already written under ``key``; a key reused for another movement is refused."""
    entry = LedgerEntry.objects.filter(idempotency_key=key).first()
    if entry is not None and any(getattr(entry, field) != value for field, value in expected.items()):
        raise ServiceError(
            "idempotency_key_reused",
            "This key was already used for a different entry; a retry must repeat the same request.",
            entry_id=entry.pk,
        )
    return entry
