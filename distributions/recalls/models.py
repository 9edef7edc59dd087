"""Recall notices and the members told.

When a released batch goes on hold or is recalled (``testing_results`` sends
``batch_status_changed`` inside that transaction), every group whose store holds some of it or
whose members received some gets one ``RecallNotice`` for that status change, written in the
same transaction. The notice keeps what the ledger said at that moment (grams in the store,
members and grams handed out); the pages add what it says now (stock still out). A coordinator
of the group acknowledges it, once.

``MemberTold`` is a coordinator's coded record that a member was told at the desk about one
batch; ``StatusAlertSeen`` is a member seeing the alert on the status page, kept as the member
and the time only. A member counts as told for a notice by either, after the notice was issued.
Nothing here holds free text about a person. Writes go through ``distributions.recalls.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from members.models import Member, MemberGroup
from testing_results.models import Batch, BatchStatusChange


class RecallNotice(models.Model):
    class Kind(models.TextChoices):
        HOLD = "on_hold", "On hold"
        RECALL = "recalled", "Recalled"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="recall_notices")
    group = models.ForeignKey(MemberGroup, on_delete=models.PROTECT, related_name="recall_notices")
    status_change = models.ForeignKey(BatchStatusChange, on_delete=models.PROTECT, related_name="recall_notices")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    issued_at = models.DateTimeField()
    # What the ledger said when the notice was issued.
    store_grams = models.DecimalField(max_digits=14, decimal_places=3)
    members_count = models.PositiveIntegerField()
    received_grams = models.DecimalField(max_digits=14, decimal_places=3)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at", "group__short_name"]
        indexes = [models.Index(fields=["group", "acknowledged_at"], name="recallnotice_group_ack_idx")]
        constraints = [
            models.UniqueConstraint(fields=["status_change", "group"], name="recallnotice_one_per_group_per_change"),
            models.CheckConstraint(condition=Q(kind__in=["on_hold", "recalled"]), name="recallnotice_kind_valid"),
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="recallnotice_acknowledged_by_and_at",
            ),
            models.CheckConstraint(
                condition=Q(store_grams__gte=0) & Q(received_grams__gte=0), name="recallnotice_grams_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.batch} · {self.group.short_name}"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class MemberTold(models.Model):
    class Event(models.TextChoices):
        TOLD_AT_DESK = "told_at_desk", "Told at the desk not to use it and to bring back what is left"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+")
    event = models.CharField(max_length=16, choices=Event.choices, default=Event.TOLD_AT_DESK)
    told_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    told_at = models.DateTimeField()

    class Meta:
        ordering = ["-told_at"]
        verbose_name_plural = "members told"
        constraints = [
            models.UniqueConstraint(fields=["member", "batch"], name="membertold_once_per_batch"),
            models.CheckConstraint(condition=Q(event__in=["told_at_desk"]), name="membertold_event_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.member} told about {self.batch}"


class StatusAlertSeen(models.Model):
    """A member saw at least one hold or recall alert on the status page: the member and the
    time, nothing else about the visit."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]
        indexes = [models.Index(fields=["member", "seen_at"], name="statusalertseen_member_idx")]

    def __str__(self) -> str:
        return f"{self.member} saw an alert"


class Replacement(models.Model):
    """Links a ``replacement`` ledger entry to the recalled distribution it replaces. One per
    distribution, held by the database; the entry's hashed ``reason`` names it too."""

    entry = models.OneToOneField("distributions.LedgerEntry", on_delete=models.PROTECT, related_name="replacement_of")
    replaces = models.OneToOneField("distributions.LedgerEntry", on_delete=models.PROTECT, related_name="replaced_by")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(entry=models.F("replaces")), name="replacement_not_itself"),
        ]

    def __str__(self) -> str:
        return f"Entry #{self.entry_id} replaces #{self.replaces_id}"
