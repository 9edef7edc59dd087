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

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

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
    name_fr = models.CharField(
        "name in French", max_length=100, blank=True, help_text="Shown to members reading in French; the English name when empty."
    )
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
    name_fr = models.CharField(
        "name in French", max_length=60, blank=True, help_text="Shown to members reading in French; the English name when empty."
    )
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
    label_text_fr = models.TextField("label text in French", blank=True, help_text="Generated at release, with the English one.")
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


class Method(models.Model):
    """A drug-checking method, as data: FTIR, mass spectrometry and immunoassay strips are seeded
    (and their codes are what ``DrugCheck.Method`` names); a programme admin may add others
    (paper-spray MS, HPLC, NMR, Raman). ``kind`` says which results it reports, ``quantifies``
    whether a concentration may be given, ``panel`` the compounds the check form starts with.
    A method rules nothing out until ``MethodCapability`` says so, and never beyond the floor
    in ``testing_results.rules``."""

    class Kind(models.TextChoices):
        SPECTRUM = "spectrum", "Spectrum or chromatogram (detected / not detected)"
        STRIP = "strip", "Test strip (positive / negative / invalid)"

    code = models.SlugField(max_length=16, unique=True, help_text="Short code, e.g. hplc. Cannot be changed later.")
    name = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SPECTRUM)
    quantifies = models.BooleanField(default=False, help_text="Results may give a concentration (%).")
    required = models.BooleanField(
        default=False, help_text="A batch needs at least one check by this method before release."
    )
    panel = models.ManyToManyField(
        Compound, blank=True, related_name="panels", help_text="The compounds this method reports: the check form's rows."
    )

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="method_code_not_empty"),
            models.CheckConstraint(condition=Q(kind__in=["spectrum", "strip"]), name="method_kind_valid"),
            models.CheckConstraint(condition=~(Q(kind="strip") & Q(quantifies=True)), name="method_strip_does_not_quantify"),
        ]

    def __str__(self) -> str:
        return self.name


class Instrument(models.Model):
    """An FTIR spectrometer or mass spectrometer a check ran on. A result produced after
    ``verified_until`` is not trusted by the release rule. ``unrecorded_before`` marks the
    stand-in given to checks recorded before instruments were kept: the rule accepts it only for
    checks performed before that moment."""

    method = models.ForeignKey(
        Method, to_field="code", db_column="method", on_delete=models.PROTECT, related_name="instruments",
        limit_choices_to={"kind": "spectrum"},
    )
    make_model = models.CharField("make and model", max_length=120)
    serial = models.CharField("serial or asset tag", max_length=60)
    library = models.CharField("spectral library", max_length=120, blank=True)
    library_version = models.CharField(max_length=40, blank=True)
    verified_until = models.DateField(null=True, blank=True, help_text="Verification or calibration due date.")
    unrecorded_before = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["method", "make_model", "serial"]
        constraints = [
            models.UniqueConstraint(fields=["method", "serial"], name="instrument_serial_unique_per_method"),
            models.CheckConstraint(condition=~Q(serial=""), name="instrument_serial_not_empty"),
            models.CheckConstraint(
                condition=Q(unrecorded_before__isnull=False) | Q(verified_until__isnull=False),
                name="instrument_verified_until_required",
            ),
        ]

    def __str__(self) -> str:
        if self.unrecorded_before:
            return f"Unrecorded {self.method_id} instrument"
        return f"{self.make_model} ({self.serial})"


class StripLot(models.Model):
    """A lot of immunoassay strips. Sensitivity varies between lots of one product, so a strip
    result names its lot; a result produced after the lot's expiry is not trusted."""

    maker = models.CharField(max_length=120)
    lot_number = models.CharField(max_length=60)
    drug_class = models.CharField("target class", max_length=32, choices=Compound.DrugClass.choices, blank=True)
    cutoff_ng_ml = models.DecimalField("cut-off (ng/mL)", max_digits=10, decimal_places=2, null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    unrecorded_before = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["drug_class", "maker", "lot_number"]
        verbose_name = "strip lot"
        constraints = [
            models.UniqueConstraint(fields=["maker", "lot_number", "drug_class"], name="striplot_unique"),
            models.CheckConstraint(condition=~Q(lot_number=""), name="striplot_lot_number_not_empty"),
            models.CheckConstraint(
                condition=Q(unrecorded_before__isnull=False)
                | (Q(expires_on__isnull=False) & Q(cutoff_ng_ml__gt=0) & ~Q(drug_class="")),
                name="striplot_recorded_fields_required",
            ),
        ]

    def __str__(self) -> str:
        if self.unrecorded_before:
            return "Unrecorded strip lot"
        return f"{self.maker} lot {self.lot_number} ({self.get_drug_class_display()})"


class DetectionLimit(models.Model):
    """The lowest concentration (% by weight) a method reports, for one compound, one class, or
    anything (neither named), optionally for one instrument where it differs from the method's.
    A "not detected" is shown as "below" the most specific limit that applies; a strip's is its
    lot's cut-off. The floor in ``testing_results.limits`` refuses a limit sharper than the
    method can see (FTIR: about 5 %). Writes go through ``services.detection_limit_set``."""

    method = models.ForeignKey(Method, to_field="code", db_column="method", on_delete=models.PROTECT, related_name="limits")
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="limits",
        help_text="Only where this instrument's limit differs from the method's.",
    )
    compound = models.ForeignKey(Compound, on_delete=models.PROTECT, null=True, blank=True, related_name="limits")
    drug_class = models.CharField(max_length=32, choices=Compound.DrugClass.choices, blank=True)
    limit_pct = models.DecimalField("limit (% by weight)", max_digits=8, decimal_places=4)
    note = models.CharField(max_length=200, blank=True, help_text="Source: validation, manufacturer, lab.")

    class Meta:
        ordering = ["method", "instrument", "drug_class", "compound"]
        verbose_name = "detection limit"
        constraints = [
            models.CheckConstraint(condition=Q(limit_pct__gt=0) & Q(limit_pct__lte=100), name="detectionlimit_pct_range"),
            models.CheckConstraint(
                condition=Q(compound__isnull=True) | Q(drug_class=""), name="detectionlimit_compound_or_class"
            ),
            models.CheckConstraint(condition=~Q(method="ftir") | Q(limit_pct__gte=5), name="detectionlimit_ftir_floor"),
        ]

    def __str__(self) -> str:
        what = self.compound or (self.get_drug_class_display() if self.drug_class else "anything")
        where = f" on {self.instrument}" if self.instrument_id else ""
        return f"{method_label(self.method_id)}{where}: {what} below {self.limit_pct.normalize():f} %"


class DrugCheck(models.Model):
    class Method(models.TextChoices):
        FTIR = "ftir", "FTIR spectrometry"
        MASS_SPEC = "mass_spec", "Mass spectrometry"
        IMMUNOASSAY = "immunoassay", "Immunoassay test strip"

    class InvalidationReason(models.TextChoices):
        TRANSCRIPTION = "transcription_error", "Transcription error"
        CONTAMINATED = "contaminated_sample", "Contaminated sample"
        INSTRUMENT_FAULT = "instrument_fault", "Instrument fault"
        EXPIRED_LOT = "expired_lot", "Expired lot"
        OTHER = "other", "Other"

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="checks")
    method = models.ForeignKey("Method", to_field="code", db_column="method", on_delete=models.PROTECT, related_name="checks")
    performed_at = models.DateTimeField()
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lab = models.CharField(max_length=120, help_text="Lab or instrument.")
    sample_mg = models.DecimalField(max_digits=10, decimal_places=3)
    recorded_at = models.DateTimeField(auto_now_add=True)
    lab_report = models.FileField(
        upload_to="lab-reports/%Y/%m/", storage=private_storage, blank=True, max_length=255
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="checks")
    strip_lot = models.ForeignKey(StripLot, on_delete=models.PROTECT, null=True, blank=True, related_name="checks")
    replaces = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retests",
        help_text="The check this one is a retest of.",
    )
    invalidated_at = models.DateTimeField(null=True, blank=True)
    invalidated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    invalidation_reason = models.CharField(max_length=24, choices=InvalidationReason.choices, blank=True)

    class Meta:
        ordering = ["batch", "performed_at", "id"]
        verbose_name = "drug check"
        constraints = [
            models.CheckConstraint(condition=Q(sample_mg__gte=0), name="drugcheck_sample_mg_not_negative"),
            models.CheckConstraint(
                condition=Q(strip_lot__isnull=True) | Q(method="immunoassay"), name="drugcheck_strip_lot_only_for_strips"
            ),
            models.CheckConstraint(
                condition=Q(instrument__isnull=True) | ~Q(method="immunoassay"), name="drugcheck_no_instrument_for_strips"
            ),
            models.CheckConstraint(
                condition=(Q(invalidated_at__isnull=True) & Q(invalidated_by__isnull=True) & Q(invalidation_reason=""))
                | (Q(invalidated_at__isnull=False) & Q(invalidated_by__isnull=False) & ~Q(invalidation_reason="")),
                name="drugcheck_invalidation_complete",
            ),
            models.CheckConstraint(condition=~Q(invalidated_by=F("performed_by")), name="drugcheck_invalidated_by_another"),
            models.CheckConstraint(condition=~Q(replaces=F("id")), name="drugcheck_does_not_replace_itself"),
        ]

    def __str__(self) -> str:
        # The local (Vancouver) date, as beside every time the admin shows; UTC's is a day ahead each evening.
        return f"{self.batch} {method_label(self.method_id)} {timezone.localtime(self.performed_at):%Y-%m-%d}"

    def get_method_display(self) -> str:
        return method_label(self.method_id)


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

    method = models.ForeignKey(Method, to_field="code", db_column="method", on_delete=models.PROTECT, related_name="capabilities")
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
        return f"{method_label(self.method_id)} {verb} {self.get_drug_class_display()}"


def method_label(code: str) -> str:
    """A method's name from its code: the built-in ones without a query, others from the table."""
    if code in DrugCheck.Method.values:
        return str(DrugCheck.Method(code).label)
    return Method.objects.filter(code=code).values_list("name", flat=True).first() or code


DEFAULT_REFERENCE_GRAMS = Decimal("1.000")


class ReferenceSamplePolicy(models.Model):
    """How much of each batch is retained at receipt as its reference sample (one row,
    ``pk=1``; the default when none is saved). The grams move from the central store to the
    ledger's reference account (``distributions.services.reference``): kept for retests, never
    handed out, destroyed witnessed when the batch is finished. Set by a programme admin
    through ``services.reference_policy_set``; 0 keeps no reference sample."""

    grams = models.DecimalField(
        "reference sample (g)", max_digits=8, decimal_places=3, default=DEFAULT_REFERENCE_GRAMS,
        help_text="Retained from each batch at receipt for retests; 0 keeps none.",
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "reference sample policy"
        verbose_name_plural = "reference sample policy"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="referencesamplepolicy_single_row"),
            models.CheckConstraint(
                condition=Q(grams__gte=0) & Q(grams__lte=1000), name="referencesamplepolicy_grams_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Reference sample: {self.grams.normalize():f} g per batch"

    @classmethod
    def current(cls) -> ReferenceSamplePolicy:
        return cls.objects.filter(pk=1).first() or cls(pk=1)
