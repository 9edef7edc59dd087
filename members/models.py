"""Member groups and anonymised members.

A ``MemberGroup`` is a peer organisation (VANDU, SOLID...) whose coordinators are staff users.
A ``Member`` is nothing but a random code on a card, a group, a status and the dates that decide
eligibility; no name, birth date, address, phone or free text about the person is stored. The
member's PIN is kept only as a password hash. Every status change is kept in
``MemberStatusChange`` (who, when, a reason code). Writes go through ``members.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.db.models import F, Q

from members.codes import format_code


class Region(models.TextChoices):
    FRASER = "fraser", "Fraser Health"
    INTERIOR = "interior", "Interior Health"
    ISLAND = "island", "Island Health"
    NORTHERN = "northern", "Northern Health"
    VANCOUVER_COASTAL = "vancouver_coastal", "Vancouver Coastal Health"


class MemberGroup(models.Model):
    name = models.CharField(max_length=120, unique=True)
    short_name = models.CharField(max_length=20, unique=True, help_text="E.g. VANDU.")
    region = models.CharField(max_length=32, choices=Region.choices)
    is_active = models.BooleanField(default=True)
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="coordinated_groups"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["short_name"]
        permissions = [("view_all_groups", "Can see every group's members, stock and entries")]
        constraints = [
            models.CheckConstraint(
                condition=Q(region__in=Region.values), name="membergroup_region_valid"
            ),
            models.CheckConstraint(condition=~Q(short_name=""), name="membergroup_short_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.short_name


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        WITHDRAWN = "withdrawn", "Withdrawn"

    code = models.CharField(max_length=12, unique=True, editable=False)
    group = models.ForeignKey(MemberGroup, on_delete=models.PROTECT, related_name="members")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    enrolled_on = models.DateField()
    renewal_due = models.DateField()
    consent_version = models.CharField(max_length=20, blank=True)
    consent_given_at = models.DateTimeField(null=True, blank=True)
    age_attested = models.BooleanField(
        default=False, help_text="The member attested being 19 or over. No birth date is stored."
    )
    pin = models.CharField(max_length=128, editable=False, help_text="Password hash of the PIN.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Set by the retention purge (``members.services.member_forget``) once a member has been
    # withdrawn longer than the programme keeps members who left: the code is replaced by one
    # no card carries, the PIN hash and the consent are dropped, the history stays.
    forgotten_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["code"]
        permissions = [
            ("reset_pin", "Can reset a member's PIN"),
            ("set_status", "Can suspend, reinstate or withdraw a member"),
        ]
        indexes = [models.Index(fields=["group", "status"], name="member_group_status_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["active", "suspended", "withdrawn"]), name="member_status_valid"),
            models.CheckConstraint(condition=Q(age_attested=True), name="member_age_attested"),
            models.CheckConstraint(condition=Q(renewal_due__gte=F("enrolled_on")), name="member_renewal_after_enrolment"),
            models.CheckConstraint(condition=~Q(consent_version="") | Q(forgotten_at__isnull=False),
                                   name="member_consent_version_not_empty"),
            models.CheckConstraint(condition=Q(consent_given_at__isnull=False) | Q(forgotten_at__isnull=False),
                                   name="member_consent_given_at_set"),
            models.CheckConstraint(condition=Q(forgotten_at__isnull=True) | Q(status="withdrawn"),
                                   name="member_forgotten_only_when_withdrawn"),
            models.CheckConstraint(condition=~Q(pin=""), name="member_pin_not_empty"),
            models.CheckConstraint(condition=Q(code__regex=r"^[0-9A-HJKMNP-TV-Z]{12}$"), name="member_code_format"),
        ]

    def __str__(self) -> str:
        return format_code(self.code)

    @property
    def display_code(self) -> str:
        return format_code(self.code)

    def check_pin(self, raw_pin: str) -> bool:
        return check_password(raw_pin, self.pin)


class StatusReason(models.TextChoices):
    ENROLLED = "enrolled", "Enrolled"
    MEMBER_REQUEST = "member_request", "At the member's request"
    SAFETY = "safety", "Safety concern"
    DIVERSION = "diversion", "Suspected diversion"
    RULES = "rules", "Broke the group's rules"
    INACTIVE = "inactive", "No contact"
    REINSTATED = "reinstated", "Reinstated after review"
    RENEWED = "renewed", "Membership renewed"
    MOVED = "moved", "Moved away"
    DECEASED = "deceased", "Died"
    OTHER = "other", "Other"

class MemberStatusChange(models.Model):
    Reason = StatusReason

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="status_history")
    from_status = models.CharField(max_length=16, choices=Member.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Member.Status.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(to_status__in=["active", "suspended", "withdrawn"]), name="memberstatuschange_to_status_valid"),
            models.CheckConstraint(condition=Q(reason__in=StatusReason.values), name="memberstatuschange_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.member}: {self.from_status or '-'} → {self.to_status}"


class RetiredCode(models.Model):
    """The code of a card that was replaced (lost, stolen, damaged). It never works again, at
    the desk or on the status page, and is never given to anyone else; the member keeps their
    record, so history, allowance and recall alerts carry over to the new card. Who had which
    old code is for auditors only (``members.view_retiredcode``)."""

    class Reason(models.TextChoices):
        LOST = "lost", "Lost"
        STOLEN = "stolen", "Stolen"
        DAMAGED = "damaged", "Damaged or unreadable"

    code = models.CharField(max_length=12, unique=True, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="retired_codes")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    retired_at = models.DateTimeField()
    retired_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-retired_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[0-9A-HJKMNP-TV-Z]{12}$"), name="retiredcode_code_format"),
            models.CheckConstraint(condition=Q(reason__in=["lost", "stolen", "damaged"]), name="retiredcode_reason_valid"),
        ]

    def __str__(self) -> str:
        return format_code(self.code)

    @property
    def display_code(self) -> str:
        return format_code(self.code)


class ForgottenCode(models.Model):
    """A keyed digest of each code a forgotten member held (``members.services.member_forget``),
    so that no new card ever carries it, with nothing that leads back to the member."""

    digest = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return f"{self.digest[:12]}…"
