"""Physical custody on the ledger: receipts, manifests, witnessed destruction and blind counts.

A transfer between stores is a manifest: ``manifest_send`` moves the grams from the sending store
to the in-transit account; a coordinator of the receiving group weighs what arrived and
``manifest_receive`` moves it into their store, with the difference (if any) as an entry of its
own carrying a reason code; ``manifest_cancel`` puts the grams back in the sending store while
the manifest is still on the road.

``destruction_witnessed`` destroys stock in front of a second person who may handle that store,
with a method code. Every act that needs a witness (a destruction, a count's signature, the
weight at a receipt) takes the witness's own password (and two-factor code where enrolled) and
checks it here, as ``allowance_override_grant`` does for its approver: no caller can skip it.

The blind counts, the receipt from the supplier and the review of flagged differences are in
``distributions.services.counts``, with the same rules for witnesses and locks.

``batch_receipt_record`` receives a batch from the supplier (``testing_results``' own
``batch_receive``, which writes the intake) with the supplier's code and lot, the packages and
the weighed grams, confirmed by a second person, all in one transaction.

``count_record`` signs a blind count of one store: the counter typed the grams of each batch
without seeing the ledger, a second person signs, and the difference from the balance at
signing (read under the balance row's lock, so distributions running meanwhile are either
before the count or after it, never half) becomes an adjustment with reason
``count_difference``, flagged beyond the tolerance.

Every write is one durable transaction that refuses bad input with a ``ServiceError`` before
writing anything. Lock order: the manifest row first (``select_for_update``), then the ledger's
own order (internal balance rows in ascending id, at most one external row, the audit head),
so two receivers of one manifest queue on the manifest and the second sees it received.
Ledger entries are written through the ledger's primitive (``entry_append``, inside this
module's own durable transaction); nothing here writes a balance or an entry directly.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from distributions.models import (
    Account,
    CustodyPolicy,
    LedgerEntry,
    Manifest,
    WitnessedDestruction,
)
from distributions.services.allowances import _confirm_approver_present as confirm_present
from distributions.services.arguments import MAX_GRAMS, MG, parse_grams, parse_key, parse_reason
from distributions.services.ledger import entry_append, ledger_write, system_account
from distributions.services.reference import reference_destruction_check, reference_destruction_lock
from members.scoping import is_coordinator_of
from testing_results.models import Batch

__all__ = [
    "custody_policy_set",
    "destruction_witnessed",
    "manifest_cancel",
    "manifest_receive",
    "manifest_send",
]

Kind = LedgerEntry.Kind


# Arguments ------------------------------------------------------------------------------------


def parse_weight(value, *, field: str = "grams") -> Decimal:
    """A weight as typed at a scale: zero or more, to the milligram."""
    if isinstance(value, str):
        value = value.strip().replace(",", ".")
    try:
        grams = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("grams_invalid", f"{value!r} is not a weight in grams.", field=field)
    if not grams.is_finite():
        raise ServiceError("grams_invalid", f"{value!r} is not a weight in grams.", field=field)
    if grams < 0:
        raise ServiceError("grams_negative", "A weight cannot be negative.", field=field)
    if grams != grams.quantize(MG):
        raise ServiceError("grams_invalid", f"{grams} g is more precise than the milligram the scales weigh to.", field=field)
    if grams > MAX_GRAMS:
        raise ServiceError("grams_invalid", f"{grams} g is more than the ledger can hold.", field=field)
    return grams.quantize(MG)


def _packages(value) -> int:
    try:
        packages = int(value)
    except (TypeError, ValueError):
        raise ServiceError("packages_invalid", "Enter the number of packages as a whole number.")
    if packages != value and str(packages) != str(value).strip():
        raise ServiceError("packages_invalid", "Enter the number of packages as a whole number.")
    if packages < 1:
        raise ServiceError("packages_invalid", "A manifest carries at least one package.")
    return packages


def _store(account: Account) -> Account:
    if not isinstance(account, Account) or account.kind not in Account.STORE_KINDS:
        raise ServiceError("not_a_store", "Choose the central store or a group's store.")
    return account


# Who may do what ------------------------------------------------------------------------------


def handles_store(user, store: Account) -> bool:
    """Whether ``user`` may send from or act for ``store``: programme staff who move stock, or
    a coordinator of the store's group."""
    if not user.is_active:
        return False
    if user.has_perm("distributions.transfer_stock"):
        return True
    return store.kind == Account.Kind.GROUP and is_coordinator_of(user, store.group_id)


def receives_into(user, store: Account) -> bool:
    """Whether ``user`` may receive into ``store``: a coordinator of the receiving group, or for
    the central store, programme staff who move stock."""
    if not user.is_active:
        return False
    if store.kind == Account.Kind.GROUP:
        return is_coordinator_of(user, store.group_id)
    return user.has_perm("distributions.transfer_stock")


def may_witness(user, store: Account) -> bool:
    """A witness is active staff who could handle the store themselves or adjusts stock; for a
    reference sample, a drug checker too (the bench keeps it)."""
    return bool(
        user is not None and user.is_active and user.is_staff
        and (handles_store(user, store) or user.has_perm("distributions.adjust_stock")
             or (store.kind == Account.Kind.REFERENCE and user.has_perm("testing_results.add_drugcheck")))
    )


def _local_request(by) -> HttpRequest:
    """A request for a witness confirmed away from the web (a management command at the
    server): the sign-in lockout then counts failures from the local address."""
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    request.user = by
    return request


def _second_person(by, witness, *, permitted: bool, password, code, request, what: str, action: str,
                   not_permitted_message: str) -> None:
    """The witness is someone else, with the right to witness, and here now: their own password
    (and two-factor code where they have one, or must have one) is checked here, so that no page,
    command or script can record a witnessed act without the witness. The cheap refusals come
    first, so that a witness who could not witness anyway does not spend a sign-in attempt."""
    if witness is None or witness.pk == by.pk:
        raise ServiceError("witness_same_person", f"{what} needs a second person: the witness cannot be you.")
    if not permitted:
        raise ServiceError("witness_not_permitted", not_permitted_message)
    if not isinstance(password, str) or not password:
        raise ServiceError("witness_not_confirmed", "The witness must type their own password.")
    try:
        confirm_present(
            request if request is not None else _local_request(by), witness, password,
            code if isinstance(code, str) else "", who="witness", action=action, failed_audit="custody.witness_failed",
        )
    except ServiceError as error:
        # The override approver's check, refused with the witness's own codes.
        if error.code == "approver_without_two_factor":
            raise ServiceError("witness_without_two_factor", error.message_text) from None
        raise ServiceError("witness_not_confirmed", error.message_text) from None


def _store_witness(by, witness, store: Account, *, password, code, request, what: str, action: str) -> None:
    _second_person(
        by, witness, permitted=may_witness(witness, store), password=password, code=code, request=request, what=what,
        action=action,
        not_permitted_message=f"{witness} cannot witness for {store}: choose programme staff or a coordinator of that group.",
    )


def _audit_manifest(action: str, manifest: Manifest, by, **extra) -> None:
    audit_log(
        action=action,
        actor=by,
        target=manifest,
        new={
            "batch": manifest.batch_id,
            "from_store": manifest.from_store_id,
            "to_store": manifest.to_store_id,
            "grams_sent": manifest.grams_sent,
            "packages": manifest.packages,
            "status": manifest.status,
            **extra,
        },
    )


# Programme settings ---------------------------------------------------------------------------


def custody_policy_set(*, tolerance_grams, tolerance_percent, count_interval_days: int, by) -> CustodyPolicy:
    if not (by.is_active and by.has_perm("distributions.change_custodypolicy")):
        raise ServiceError("not_permitted", "Only a programme admin sets the custody tolerance and count interval.")
    grams = parse_weight(tolerance_grams, field="tolerance_grams")
    try:
        percent = Decimal(str(tolerance_percent))
    except (InvalidOperation, ValueError):
        raise ServiceError("percent_invalid", "Enter the tolerance as a percentage between 0 and 100.")
    if not percent.is_finite() or not (0 <= percent <= 100) or percent != percent.quantize(Decimal("0.01")):
        raise ServiceError("percent_invalid", "Enter the tolerance as a percentage between 0 and 100.")
    if not isinstance(count_interval_days, int) or not (1 <= count_interval_days <= 366):
        raise ServiceError("interval_invalid", "Enter the count interval as a number of days from 1 to 366.")
    with transaction.atomic(durable=True):
        policy = CustodyPolicy.objects.select_for_update().filter(pk=1).first() or CustodyPolicy(pk=1)
        old = {"tolerance_grams": policy.tolerance_grams, "tolerance_percent": policy.tolerance_percent,
               "count_interval_days": policy.count_interval_days}
        policy.tolerance_grams, policy.tolerance_percent, policy.count_interval_days = grams, percent, count_interval_days
        policy.updated_by, policy.updated_at = by, timezone.now()
        policy.save()
        audit_log(action="custody.policy_set", actor=by, target=policy, old=old,
                  new={"tolerance_grams": grams, "tolerance_percent": percent, "count_interval_days": count_interval_days})
    return policy


# Manifests ------------------------------------------------------------------------------------


def manifest_send(
    *,
    batch: Batch,
    from_store: Account,
    to_store: Account,
    grams,
    packages: int,
    by,
    idempotency_key: str | None = None,
) -> Manifest:
    """Put ``grams`` of ``batch`` on the road from ``from_store`` to ``to_store``.

    Stock may go to a group's store only while the batch is released (as for a transfer); it can
    always go back to the central store (a recalled batch is gathered there for destruction).
    A retry with the same key returns the first manifest.
    """
    grams = parse_grams(grams)
    packages = _packages(packages)
    from_store, to_store = _store(from_store), _store(to_store)
    key = parse_key(idempotency_key)
    if from_store.pk == to_store.pk:
        raise ServiceError("same_account", "A manifest goes to another store.")
    if to_store.kind == Account.Kind.GROUP and not to_store.group.is_active:
        raise ServiceError("group_inactive", f"{to_store.group} is not active in the programme.")
    if not handles_store(by, from_store):
        raise ServiceError("not_permitted", f"You may not send stock from {from_store}.")

    def earlier() -> Manifest | None:
        manifest = Manifest.objects.filter(send_entry__idempotency_key=key).first()
        if manifest is not None and manifest.batch_id != batch.pk:
            raise ServiceError("idempotency_key_reused", "This key was already used for another manifest.")
        return manifest

    try:
        with transaction.atomic(durable=True):
            existing = earlier()
            if existing is not None:
                return existing
            entry = entry_append(
                kind=Kind.MANIFEST_SEND,
                batch=batch,
                from_account=from_store,
                to_account=system_account(Account.Kind.IN_TRANSIT),
                grams=grams,
                by=by,
                idempotency_key=key,
                require_released=to_store.kind == Account.Kind.GROUP,
            )
            manifest = Manifest.objects.create(
                batch=batch, from_store=from_store, to_store=to_store, grams_sent=grams, packages=packages,
                sent_by=by, sent_at=entry.recorded_at, send_entry=entry,
            )
            _audit_manifest("manifest.sent", manifest, by)
            return manifest
    except IntegrityError:
        existing = earlier()
        if existing is None:
            raise
        return existing


def _locked(manifest: Manifest) -> Manifest:
    """The manifest, locked (first in the lock order), as committed now."""
    locked = (
        Manifest.objects.select_for_update(of=("self",))
        .select_related("batch", "from_store__group", "to_store__group")
        .filter(pk=manifest.pk)
        .first()
    )
    if locked is None:
        raise ServiceError("manifest_not_found", "There is no such manifest.")
    return locked


def _refuse_closed(manifest: Manifest) -> None:
    if manifest.status == Manifest.Status.RECEIVED:
        raise ServiceError(
            "already_received",
            f"{manifest.code} was received by {manifest.received_by} on "
            f"{timezone.localtime(manifest.received_at):%Y-%m-%d %H:%M}.",
        )
    if manifest.status == Manifest.Status.CANCELLED:
        raise ServiceError("already_cancelled", f"{manifest.code} was cancelled; its grams went back to {manifest.from_store}.")


def manifest_receive(*, manifest: Manifest, grams_received, by, reason: str | None = None) -> Manifest:
    """Receive a manifest by the grams weighed on arrival.

    What arrived moves from in transit to the receiving store. A difference needs a reason code
    and is an entry of its own: grams missing leave the in-transit account for the outside
    world; grams more than were sent come in from it. A difference beyond the programme's
    tolerance is flagged for review.
    """
    grams = parse_weight(grams_received, field="grams_received")
    if reason in (None, ""):
        reason = ""
    elif reason not in LedgerEntry.ManifestDifference.values:
        allowed = ", ".join(LedgerEntry.ManifestDifference.values)
        raise ServiceError("reason_invalid", f"Choose a reason for the difference from the list ({allowed}).")

    with transaction.atomic(durable=True):
        locked = _locked(manifest)
        _refuse_closed(locked)
        if not receives_into(by, locked.to_store):
            raise ServiceError(
                "wrong_group",
                f"{locked.code} is addressed to {locked.to_store}; only "
                + ("a coordinator of that group" if locked.to_store.kind == Account.Kind.GROUP else "programme staff")
                + " can receive it.",
            )
        sent = Decimal(locked.grams_sent).quantize(MG)
        difference = grams - sent
        if difference and not reason:
            if difference > 0:
                raise ServiceError(
                    "more_than_sent",
                    f"{grams} g weighed but {sent} g were sent: weigh again, or choose the reason for the difference.",
                )
            raise ServiceError(
                "difference_reason_required",
                f"{grams} g weighed but {sent} g were sent: weigh again, or choose the reason for the difference.",
            )
        if not difference:
            reason = ""
        in_transit, outside = system_account(Account.Kind.IN_TRANSIT), system_account(Account.Kind.SUPPLIER)
        common = {"batch": locked.batch, "by": by}
        received_entry = None
        arrived = min(grams, sent)
        if arrived > 0:
            received_entry = entry_append(
                kind=Kind.MANIFEST_RECEIVE, from_account=in_transit, to_account=locked.to_store, grams=arrived,
                idempotency_key=f"manifest-{locked.pk}-receive", **common,
            )
        difference_entry = None
        if difference < 0:
            difference_entry = entry_append(
                kind=Kind.MANIFEST_DIFF, from_account=in_transit, to_account=outside, grams=-difference,
                idempotency_key=f"manifest-{locked.pk}-difference", reason=reason, **common,
            )
        elif difference > 0:
            difference_entry = entry_append(
                kind=Kind.MANIFEST_DIFF, from_account=outside, to_account=locked.to_store, grams=difference,
                idempotency_key=f"manifest-{locked.pk}-difference", reason=reason, **common,
            )
        locked.status = Manifest.Status.RECEIVED
        locked.received_by, locked.received_at, locked.grams_received = by, timezone.now(), grams
        locked.difference_reason = reason
        locked.receive_entry, locked.difference_entry = received_entry, difference_entry
        locked.flagged = abs(difference) > CustodyPolicy.current().tolerance_for(sent)
        locked.save(update_fields=[
            "status", "received_by", "received_at", "grams_received", "difference_reason", "receive_entry",
            "difference_entry", "flagged",
        ])
        _audit_manifest("manifest.received", locked, by, grams_received=grams, difference=difference, reason=reason,
                        flagged=locked.flagged)
    return locked


def manifest_cancel(*, manifest: Manifest, by) -> Manifest:
    """Bring a manifest's grams back to the sending store; only while it is in transit."""
    with transaction.atomic(durable=True):
        locked = _locked(manifest)
        _refuse_closed(locked)
        if not (by.pk == locked.sent_by_id and by.is_active) and not handles_store(by, locked.from_store):
            raise ServiceError("not_permitted", f"Only the sender or staff of {locked.from_store} can cancel {locked.code}.")
        entry = entry_append(
            kind=Kind.MANIFEST_CANCEL, batch=locked.batch, from_account=system_account(Account.Kind.IN_TRANSIT),
            to_account=locked.from_store, grams=Decimal(locked.grams_sent).quantize(MG), by=by,
            idempotency_key=f"manifest-{locked.pk}-cancel",
        )
        locked.status = Manifest.Status.CANCELLED
        locked.cancelled_by, locked.cancelled_at, locked.cancel_entry = by, entry.recorded_at, entry
        locked.save(update_fields=["status", "cancelled_by", "cancelled_at", "cancel_entry"])
        _audit_manifest("manifest.cancelled", locked, by)
    return locked


# Witnessed destruction ------------------------------------------------------------------------


def destruction_witnessed(
    *,
    batch: Batch,
    store: Account,
    grams,
    reason: str,
    method: str,
    by,
    witness,
    witness_password: str,
    witness_code: str = "",
    request: HttpRequest | None = None,
    idempotency_key: str | None = None,
) -> WitnessedDestruction:
    """Destroy ``grams`` of ``batch`` held by ``store`` in front of ``witness``.

    ``by`` adjusts stock or coordinates the store's group; ``witness`` is someone else who may
    handle that store, confirming with their own password (and two-factor code) in ``request``,
    the one ``by`` is signed in with. The entry is a destruction (store → destroyed) with its reason code; the
    witness and the method are kept beside it. Never more than the store holds.
    """
    grams = parse_grams(grams)
    reason = parse_reason(reason, LedgerEntry.DestructionReason)
    if method not in WitnessedDestruction.Method.values:
        allowed = ", ".join(WitnessedDestruction.Method.values)
        raise ServiceError("method_invalid", f"Choose how the stock was destroyed ({allowed}).")
    reference = reference_destruction_check(batch=batch, store=store, reason=reason)
    if not reference:
        store = _store(store)
    key = parse_key(idempotency_key)
    if not (by.is_active and (by.has_perm("distributions.adjust_stock")
                              or (store.kind == Account.Kind.GROUP and is_coordinator_of(by, store.group_id)))):
        raise ServiceError("not_permitted", f"You may not destroy stock held by {store}.")
    _store_witness(by, witness, store, password=witness_password, code=witness_code, request=request,
                   what="A destruction", action="witnessing a destruction")

    def write() -> LedgerEntry:
        if reference and not LedgerEntry.objects.filter(idempotency_key=key).exists():
            reference_destruction_lock(batch=batch)
        entry = entry_append(
            kind=Kind.DESTRUCTION, batch=batch, from_account=store, to_account=system_account(Account.Kind.DESTROYED),
            grams=grams, by=by, idempotency_key=key, reason=reason,
        )
        record, created = WitnessedDestruction.objects.get_or_create(
            entry=entry, defaults={"destroyed_by": by, "witness": witness, "method": method})
        if created:
            audit_log(action="stock.destroyed", actor=by, target=entry, new={
                "batch": batch.pk, "store": store.pk, "grams": grams, "reason": reason, "method": method,
                "witness": witness.get_username(),
            })
        return entry

    entry = ledger_write(write, key, kind=Kind.DESTRUCTION, batch_id=batch.pk)
    return WitnessedDestruction.objects.select_related("entry", "witness").get(entry=entry)
