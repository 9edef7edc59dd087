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
    """Links a ``replacement`` ledger entry to the recalled distribution it replaces; the
    entry's hashed ``reason`` names it too. A distribution has one replacement standing at a
    time: a replacement undone (reversed, say the wrong batch was picked) may be followed by
    another, numbered 2, 3... ``sequence`` is unique per distribution, so two attempts racing
    for the same place store one, held by the database."""

    entry = models.OneToOneField("distributions.LedgerEntry", on_delete=models.PROTECT, related_name="replacement_of")
    replaces = models.ForeignKey("distributions.LedgerEntry", on_delete=models.PROTECT, related_name="replacements")
    sequence = models.PositiveSmallIntegerField(default=1)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(entry=models.F("replaces")), name="replacement_not_itself"),
            models.UniqueConstraint(fields=["replaces", "sequence"], name="replacement_sequence_unique"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="replacement_sequence_positive"),
        ]

    def __str__(self) -> str:
        return f"Entry #{self.entry_id} replaces #{self.replaces_id}"


class AdverseEvent(models.Model):
    """A report that someone was harmed after using a batch: a coded outcome and severity,
    optionally the member's code (a coordinator's own group), never free text about people."""

    class Outcome(models.TextChoices):
        NALOXONE = "naloxone", "Naloxone given"
        EMERGENCY = "emergency_services", "Emergency services called"
        HOSPITAL = "hospital", "Hospital"
        DEATH = "death", "Death"
        SEDATION = "unexpected_sedation", "Unexpected sedation"
        STIMULATION = "unexpected_stimulation", "Unexpected stimulation"
        SKIN = "skin_reaction", "Skin or injection-site reaction"
        OTHER = "other", "Other"

    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    # These outcomes are severe whatever else is said, and hold the batch at once.
    SEVERE_OUTCOMES = frozenset({Outcome.NALOXONE, Outcome.EMERGENCY, Outcome.HOSPITAL, Outcome.DEATH})

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="adverse_events")
    occurred_at = models.DateTimeField()
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_at = models.DateTimeField()
    # Whether this report put the batch on hold (severe, or the moderate one reaching the threshold).
    held_batch = models.BooleanField(default=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["batch", "occurred_at"], name="adverseevent_batch_time_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["naloxone", "emergency_services", "hospital", "death", "unexpected_sedation",
                                         "unexpected_stimulation", "skin_reaction", "other"]),
                name="adverseevent_outcome_valid",
            ),
            models.CheckConstraint(condition=Q(severity__in=["mild", "moderate", "severe"]), name="adverseevent_severity_valid"),
            models.CheckConstraint(
                condition=~Q(outcome__in=["naloxone", "emergency_services", "hospital", "death"]) | Q(severity="severe"),
                name="adverseevent_severe_outcome_is_severe",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.get_severity_display().lower()}) · {self.batch}"


class AdverseEventThreshold(models.Model):
    """The programme's rule for moderate reports: ``moderate_count`` of them about one batch
    within ``window_days`` of each other put it on hold. One row."""

    moderate_count = models.PositiveSmallIntegerField(default=2)
    window_days = models.PositiveSmallIntegerField(default=7)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "adverse-event hold threshold"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="adverseeventthreshold_single_row"),
            models.CheckConstraint(condition=Q(moderate_count__gte=1), name="adverseeventthreshold_count_positive"),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="adverseeventthreshold_window_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.moderate_count} moderate reports within {self.window_days} days"
