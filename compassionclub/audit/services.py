"""Writing to the audit trail. Called by every service inside its own transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from compassionclub.audit.context import current_ip_address
from compassionclub.audit.models import AuditChainHead, AuditRecord

# Keys whose values never reach the trail, whatever the caller passes.
SECRET_KEYS = frozenset({"pin", "password", "secret", "key", "token", "otp", "backup_code", "pin_hash"})
MASK = "***"


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (MASK if any(s in str(k).lower() for s in SECRET_KEYS) else _mask(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_mask(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def address_digest(address: str | None) -> str:
    """The keyed digest of a staff address that the chain covers: HMAC-SHA256 with
    ``AUDIT_ADDRESS_KEY`` (from the environment, never the database), '' for no address. Without
    the key a digest cannot be tested against the 2^32 IPv4 addresses; with it, an investigator
    can still tell whether a given address made a change after the address itself was purged."""
    if not address:
        return ""
    normalised = str(ipaddress.ip_address(address))
    return hmac.new(settings.AUDIT_ADDRESS_KEY.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def record_hash(record: AuditRecord) -> str:
    """The hash of a record's content and the hash of the record before it.

    Format 2: the staff address is covered by its keyed digest (``ip_digest``), not in clear, so
    clearing the address after its retention period leaves the hash intact."""
    payload = canonical_json(
        {
            "format": 2,
            "seq": record.seq,
            "created_at": record.created_at.astimezone(dt.UTC).isoformat(),
            "actor": record.actor_id,
            "actor_username": record.actor_username,
            "ip_digest": record.ip_digest,
            "action": record.action,
            "target_type": record.target_type,
            "target_id": record.target_id,
            "target_repr": record.target_repr,
            "old": record.old,
            "new": record.new,
            "prev_hash": record.prev_hash,
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def audit_log(
    *,
    action: str,
    actor=None,
    target: models.Model | None = None,
    old: dict | None = None,
    new: dict | None = None,
    ip_address: str | None = None,
    target_repr: str | None = None,
) -> AuditRecord:
    """Append one record. Runs in the caller's transaction (or its own if there is none).

    ``ip_address`` defaults to the address of the staff request being served, if any.
    """
    if ip_address is None:
        ip_address = current_ip_address.get()
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(id=1)
        record = AuditRecord(
            seq=head.last_seq + 1,
            created_at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_username=getattr(actor, "get_username", lambda: "")() if actor is not None else "",
            ip_address=ip_address,
            ip_digest=address_digest(ip_address),
            action=action,
            target_type=target._meta.label_lower if target is not None else "",
            target_id=str(target.pk) if target is not None else "",
            target_repr=(target_repr if target_repr is not None else (str(target) if target is not None else ""))[:200],
            old=_mask(old) if old is not None else None,
            new=_mask(new) if new is not None else None,
            prev_hash=head.last_hash,
        )
        # Round-trip through JSON so the hash is computed on what the database will return.
        record.old = json.loads(canonical_json(record.old)) if record.old is not None else None
        record.new = json.loads(canonical_json(record.new)) if record.new is not None else None
        record.hash = record_hash(record)
        record.save()
        AuditChainHead.objects.filter(id=1).update(last_seq=record.seq, last_hash=record.hash)
    return record


def audit_verify() -> tuple[int, AuditRecord | None, str]:
    """Recompute the chain. Returns (records checked, first broken record or None, why)."""
    prev = "0" * 64
    expected_seq = 1
    count = 0
    for record in AuditRecord.objects.order_by("seq").iterator(chunk_size=2000):
        if record.seq != expected_seq:
            return count, record, f"sequence jumps from {expected_seq - 1} to {record.seq} (a record was deleted)"
        if record.prev_hash != prev:
            return count, record, "does not link to the record before it"
        if record_hash(record) != record.hash:
            return count, record, "its content does not match its hash (it was edited)"
        if record.ip_address and address_digest(record.ip_address) != record.ip_digest:
            return count, record, ("its address does not match the digest the chain covers (the address was "
                                   "edited, or AUDIT_ADDRESS_KEY is not the key it was written with)")
        prev = record.hash
        expected_seq += 1
        count += 1
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev):
        return count, None, f"the chain head says {head.last_seq} records but {expected_seq - 1} were found"
    return count, None, ""


def audit_forget_addresses(
    *, before: dt.datetime, dry_run: bool = False, batch: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Clear the staff address of every record written before ``before``; returns how many.

    The only change ever made to a record: the chain covers the address's keyed digest, which
    stays, so ``verify_audit`` and checkpoints still hold. In batches, each its own transaction,
    so a long purge holds no lock for long and a second run carries on where one stopped."""
    due = AuditRecord.objects.filter(created_at__lt=before, ip_address__isnull=False)
    total = due.count()
    if dry_run or not total:
        return total
    done = 0
    while True:
        ids = list(due.order_by("seq").values_list("id", flat=True)[:batch])
        if not ids:
            break
        with transaction.atomic():
            # Past the append-only queryset on purpose: this update touches nothing hashed, and on
            # PostgreSQL the trigger lets through an update that only clears the address.
            done += models.QuerySet.update(AuditRecord.objects.filter(id__in=ids), ip_address=None)
        if progress is not None:
            progress(done, total)
    return done
