"""The append-only audit trail.

Every service writes one ``AuditRecord`` per change inside its own transaction, so the record
and the change commit together or not at all. Records are hash-chained: each carries the hash
of its own content and of the record before it, and ``AuditChainHead`` (one row, locked while
appending) makes appends strictly sequential so the chain never forks. Records cannot be
changed or deleted through the ORM (``compassionclub.audit.append_only``), nor on PostgreSQL
through SQL; the admin shows them read-only. The one change allowed is the retention purge
clearing a staff address (``audit_forget_addresses``), which the chain does not cover.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from compassionclub.audit.append_only import AppendOnlyModel, AppendOnlyQuerySet


class AuditChainHead(models.Model):
    """The single row that serialises appends to the audit chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chainhead_single_row")]

    def __str__(self) -> str:
        return f"audit chain @ {self.last_seq}"


class AuditRecord(AppendOnlyModel):
    append_only_refusal = "Audit records are append-only; they cannot be changed or deleted."

    seq = models.BigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    # The address of a staff user's request; never set from the public status page. The chain
    # covers ``ip_digest`` (a keyed digest of it, ``compassionclub.audit.services.address_digest``)
    # and not the address, so ``manage.py purge`` can clear the address after its retention
    # period without breaking the chain.
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    ip_digest = models.CharField(max_length=64, blank=True, editable=False)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=200, blank=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gt=0), name="audit_record_seq_positive"),
            models.CheckConstraint(condition=~models.Q(action=""), name="audit_record_action_not_empty"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_repr}"
