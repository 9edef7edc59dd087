"""Substances, batches and their drug-checking results.

A ``Batch`` of a ``Substance`` arrives quarantined. Drug checkers record ``DrugCheck``s (one per
method run: FTIR, mass spectrometry, immunoassay strips), each with ``Finding``s about
``Compound``s. ``testing_results.rules`` turns those findings into a release assessment; a
release officer who entered none of the checks may then release the batch. Every status change
is kept in ``BatchStatusChange``. ``Compound.drug_class`` says which class of adulterant a
compound belongs to; ``MethodCapability`` says, per method and class, whether that method's
"not detected" rules the class out and whether a result by that method is required, which is
the data the release rule reads. Writes go through ``testing_results.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from compassionclub.storage import private_storage


class Compound(models.Model):
    class Category(models.TextChoices):
        ACTIVE = "active", "Active (the substance itself)"
        CUT = "cut", "Cut (inert or benign)"
        HARMFUL = "harmful", "Harmful adulterant"

    class DrugClass(models.TextChoices):
        FENTANYL = "fentanyl", "Fentanyl and analogues"
        BENZODIAZEPINE = "benzodiazepine", "Benzodiazepines"
        NITAZENE = "nitazene", "Nitazenes"
        XYLAZINE = "xylazine", "Xylazine"
        ALPHA2_AGONIST = "alpha2_agonist", "Other alpha-2 agonists (e.g. medetomidine)"
        OPIOID = "opioid", "Other opioids"
        STIMULANT = "stimulant", "Stimulants"
        OTHER = "other", "Other"

    name = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=16, choices=Category.choices)
    drug_class = models.CharField(max_length=32, choices=DrugClass.choices, default=DrugClass.OTHER)
    watch_listed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the compound was added to the harmful watch list."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(category__in=["active", "cut", "harmful"]), name="compound_category_valid"),
            models.CheckConstraint(condition=~Q(name=""), name="compound_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class Substance(models.Model):
    name = models.CharField(max_length=60, unique=True)
    expected_compound = models.ForeignKey(Compound, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Batch(models.Model):
    class Status(models.TextChoices):
        QUARANTINED = "quarantined", "Quarantined"
        RELEASED = "released", "Released"
        REJECTED = "rejected", "Rejected"
        ON_HOLD = "on_hold", "On hold"
        RECALLED = "recalled", "Recalled"

    code = models.CharField(max_length=24, unique=True, editable=False)
    substance = models.ForeignKey(Substance, on_delete=models.PROTECT, related_name="batches")
    received_on = models.DateField()
    received_grams = models.DecimalField(max_digits=12, decimal_places=3)
    best_before = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUARANTINED)
    status_changed_at = models.DateTimeField()
    label_text = models.TextField(blank=True, help_text="Generated at release.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        verbose_name_plural = "batches"
        permissions = [
            ("release_batch", "Can release, reject, hold or recall a batch"),
            ("view_lab_report", "Can download lab reports"),
        ]
        indexes = [models.Index(fields=["status", "substance"], name="batch_status_substance_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(received_grams__gt=0), name="batch_received_grams_positive"),
            models.CheckConstraint(
                condition=Q(status__in=["quarantined", "released", "rejected", "on_hold", "recalled"]),
                name="batch_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(best_before__isnull=True) | Q(best_before__gte=F("received_on")),
                name="batch_best_before_after_receipt",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_distributable(self) -> bool:
        return self.status == self.Status.RELEASED


class BatchStatusChange(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="status_history")
    from_status = models.CharField(max_length=16, choices=Batch.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Batch.Status.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField()
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-changed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="batchstatuschange_reason_not_empty"),
            models.CheckConstraint(condition=~Q(from_status=F("to_status")), name="batchstatuschange_changes_status"),
        ]

    def __str__(self) -> str:
        return f"{self.batch}: {self.from_status or '-'} → {self.to_status}"


class DrugCheck(models.Model):
    class Method(models.TextChoices):
        FTIR = "ftir", "FTIR spectrometry"
        MASS_SPEC = "mass_spec", "Mass spectrometry"
        IMMUNOASSAY = "immunoassay", "Immunoassay test strip"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="checks")
    method = models.CharField(max_length=16, choices=Method.choices)
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lab = models.CharField(max_length=120, help_text="Lab or instrument.")
    sample_mg = models.DecimalField(max_digits=10, decimal_places=3)
    recorded_at = models.DateTimeField(auto_now_add=True)
    lab_report = models.FileField(
        upload_to="lab-reports/%Y/%m/", storage=private_storage, blank=True, max_length=255
    )

    class Meta:
        ordering = ["batch", "performed_at", "id"]
        verbose_name = "drug check"
        constraints = [
            models.CheckConstraint(condition=Q(method__in=["ftir", "mass_spec", "immunoassay"]), name="drugcheck_method_valid"),
            models.CheckConstraint(condition=Q(sample_mg__gte=0), name="drugcheck_sample_mg_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.batch} {self.get_method_display()} {self.performed_at:%Y-%m-%d}"


class Finding(models.Model):
    class Result(models.TextChoices):
        DETECTED = "detected", "Detected"
        NOT_DETECTED = "not_detected", "Not detected"
        POSITIVE = "positive", "Positive"
        NEGATIVE = "negative", "Negative"
        INVALID = "invalid", "Invalid"

    drug_check = models.ForeignKey(DrugCheck, on_delete=models.PROTECT, related_name="findings")
    compound = models.ForeignKey(Compound, on_delete=models.PROTECT, related_name="findings")
    result = models.CharField(max_length=16, choices=Result.choices)
    concentration_pct = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["drug_check", "compound__name"]
        constraints = [
            models.UniqueConstraint(fields=["drug_check", "compound"], name="finding_one_per_compound_per_check"),
            models.CheckConstraint(
                condition=Q(result__in=["detected", "not_detected", "positive", "negative", "invalid"]),
                name="finding_result_valid",
            ),
            models.CheckConstraint(
                condition=Q(concentration_pct__isnull=True)
                | (Q(concentration_pct__gte=0) & Q(concentration_pct__lte=100)),
                name="finding_concentration_pct_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.compound}: {self.get_result_display()}"


class MethodCapability(models.Model):
    """Whether a method can rule out a class of compound, and whether its result is required.

    Seeded by a data migration from ``testing_results.rules.DEFAULT_CAPABILITIES``; programme
    admins may tighten it (stop trusting a method for a class, require another result). The
    floor in ``testing_results.rules`` cannot be loosened from here: FTIR never rules out
    fentanyl, nitazenes or benzodiazepines (also a database constraint), and fentanyl and
    benzodiazepine strips stay required whatever this table says.
    """

    method = models.CharField(max_length=16, choices=DrugCheck.Method.choices)
    drug_class = models.CharField(max_length=32, choices=Compound.DrugClass.choices)
    can_rule_out = models.BooleanField(
        help_text="A \"not detected\" / negative result by this method rules this class out at dangerous levels."
    )
    required = models.BooleanField(
        default=False, help_text="A batch needs a negative result by this method for this class to be released."
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why (detection limit, cross-reactivity).")

    class Meta:
        ordering = ["method", "drug_class"]
        verbose_name = "method capability"
        verbose_name_plural = "method capabilities"
        constraints = [
            models.UniqueConstraint(fields=["method", "drug_class"], name="methodcapability_one_per_method_class"),
            models.CheckConstraint(
                condition=~(Q(method="ftir") & Q(drug_class__in=["fentanyl", "nitazene", "benzodiazepine"]) & Q(can_rule_out=True)),
                name="methodcapability_ftir_never_rules_out_potent_classes",
            ),
            models.CheckConstraint(
                condition=Q(required=False) | Q(can_rule_out=True), name="methodcapability_required_can_rule_out"
            ),
        ]

    def __str__(self) -> str:
        verb = "rules out" if self.can_rule_out else "cannot rule out"
        return f"{self.get_method_display()} {verb} {self.get_drug_class_display()}"
