"""Physical custody: manifests, blind counts, witnessed destructions and receipts.

The ledger proves its entries; these records tie them to what people weighed and signed.

- ``CustodyPolicy``: the programme's tolerance for a difference (grams and percent, the larger
  applies) and how often every store must be counted. One row; defaults when absent.
- ``Manifest``: a transfer on the road. Sending writes a ``manifest_send`` entry (store → in
  transit); receiving writes ``manifest_receive`` (in transit → receiving store) and, when the
  weighed grams differ, a ``manifest_diff`` entry with a reason code (in transit → outside when
  grams are missing, outside → store when more arrived); cancelling writes ``manifest_cancel``
  (in transit → sending store). The manifest moves from in transit to received or cancelled
  once, and the database refuses a manifest whose state and fields disagree.
- ``StockCount`` and its lines: a blind count of one store, signed by a second person; each
  line keeps the grams counted, the ledger's balance at signing and the ``count_difference``
  adjustment that closed the gap.
- ``WitnessedDestruction``: who witnessed a destruction entry and how the stock was destroyed.
- ``BatchReceipt``: the supplier's reference and lot, the packages and weighed grams of a
  batch as received, and the second person who confirmed the weight.
- ``DifferenceReview``: a programme admin's or release officer's reason code for one flagged
  difference (a manifest or a count line beyond the tolerance).

Writes go through ``distributions.services.custody`` and ``.counts``; every foreign key to history is PROTECT.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from distributions.models import Account, LedgerEntry
from testing_results.models import Batch

DEFAULT_TOLERANCE_GRAMS = Decimal("0.500")
DEFAULT_TOLERANCE_PERCENT = Decimal("1.00")
DEFAULT_COUNT_INTERVAL_DAYS = 7


class CustodyPolicy(models.Model):
    """The programme's custody settings (one row, ``pk=1``)."""

    tolerance_grams = models.DecimalField(
        max_digits=8, decimal_places=3, default=DEFAULT_TOLERANCE_GRAMS,
        help_text="A difference larger than this many grams is flagged for review…",
    )
    tolerance_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=DEFAULT_TOLERANCE_PERCENT,
        help_text="…or than this percentage of the grams expected, whichever is larger.",
    )
    count_interval_days = models.PositiveIntegerField(
        default=DEFAULT_COUNT_INTERVAL_DAYS, help_text="Every store is counted at least this often."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "custody policy"
        verbose_name_plural = "custody policy"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="custodypolicy_single_row"),
            models.CheckConstraint(condition=Q(tolerance_grams__gte=0), name="custodypolicy_tolerance_grams_not_negative"),
            models.CheckConstraint(
                condition=Q(tolerance_percent__gte=0) & Q(tolerance_percent__lte=100), name="custodypolicy_tolerance_percent_range"
            ),
            models.CheckConstraint(condition=Q(count_interval_days__gt=0), name="custodypolicy_count_interval_positive"),
        ]

    def __str__(self) -> str:
        return (
            f"Tolerance {self.tolerance_grams} g or {self.tolerance_percent} %, "
            f"counts every {self.count_interval_days} days"
        )

    @classmethod
    def current(cls) -> CustodyPolicy:
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def tolerance_for(self, expected: Decimal) -> Decimal:
        """The largest difference not flagged, for ``expected`` grams."""
        by_percent = (abs(Decimal(expected)) * Decimal(self.tolerance_percent) / 100).quantize(Decimal("0.001"))
        return max(Decimal(self.tolerance_grams), by_percent)


class Manifest(models.Model):
    class Status(models.TextChoices):
        IN_TRANSIT = "in_transit", "In transit"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    Difference = LedgerEntry.ManifestDifference

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="manifests")
    from_store = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="manifests_out")
    to_store = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="manifests_in")
    grams_sent = models.DecimalField(max_digits=12, decimal_places=3)
    packages = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_TRANSIT)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sent_at = models.DateTimeField()
    send_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="manifest_sent")
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField(null=True, blank=True)
    grams_received = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    difference_reason = models.CharField(max_length=24, choices=Difference.choices, blank=True)
    receive_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="manifest_received"
    )
    difference_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="manifest_difference"
    )
    flagged = models.BooleanField(default=False, help_text="The difference is beyond the programme's tolerance.")
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="manifest_cancelled"
    )

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["status", "sent_at"], name="manifest_status_sent_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(grams_sent__gt=0), name="manifest_grams_sent_positive"),
            models.CheckConstraint(condition=Q(packages__gt=0), name="manifest_packages_positive"),
            models.CheckConstraint(condition=~Q(from_store=F("to_store")), name="manifest_stores_differ"),
            models.CheckConstraint(condition=Q(status__in=["in_transit", "received", "cancelled"]), name="manifest_status_valid"),
            models.CheckConstraint(
                condition=(
                    Q(status="received", received_by__isnull=False, received_at__isnull=False, grams_received__isnull=False)
                    | (~Q(status="received") & Q(received_by__isnull=True, received_at__isnull=True, grams_received__isnull=True,
                                                 receive_entry__isnull=True, difference_entry__isnull=True))
                ),
                name="manifest_received_iff_status",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="cancelled", cancelled_by__isnull=False, cancelled_at__isnull=False, cancel_entry__isnull=False)
                    | (~Q(status="cancelled") & Q(cancelled_by__isnull=True, cancelled_at__isnull=True, cancel_entry__isnull=True))
                ),
                name="manifest_cancelled_iff_status",
            ),
            models.CheckConstraint(
                condition=Q(grams_received__isnull=True) | Q(grams_received__gte=0), name="manifest_grams_received_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    (Q(grams_received__isnull=True) | Q(grams_received=F("grams_sent")))
                    & Q(difference_reason="") & Q(difference_entry__isnull=True)
                )
                | (
                    Q(grams_received__isnull=False) & ~Q(grams_received=F("grams_sent"))
                    & Q(difference_reason__in=["spillage", "weighing_difference", "missing"])
                    & Q(difference_entry__isnull=False)
                ),
                name="manifest_difference_has_reason_and_entry",
            ),
            models.CheckConstraint(condition=Q(flagged=False) | Q(status="received"), name="manifest_flagged_only_received"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.grams_sent} g of {self.batch} to {self.to_store}"

    @property
    def code(self) -> str:
        """The manifest's number as printed on the paper that travels with the package."""
        return f"MF-{self.pk:06d}" if self.pk else "MF-new"

    @property
    def difference(self) -> Decimal | None:
        if self.grams_received is None:
            return None
        return Decimal(self.grams_received) - Decimal(self.grams_sent)


class WitnessedDestruction(models.Model):
    class Method(models.TextChoices):
        INCINERATION = "incineration", "Incineration"
        DENATURING_KIT = "denaturing_kit", "Activated-carbon denaturing kit"
        PHARMACY_RETURN = "pharmacy_return", "Pharmacy take-back"
        HAZARDOUS_WASTE = "hazardous_waste", "Licensed hazardous-waste contractor"

    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="witnessed")
    destroyed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witness = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=24, choices=Method.choices)

    class Meta:
        ordering = ["-entry"]
        constraints = [
            models.CheckConstraint(condition=~Q(destroyed_by=F("witness")), name="witnesseddestruction_second_person"),
            models.CheckConstraint(
                condition=Q(method__in=["incineration", "denaturing_kit", "pharmacy_return", "hazardous_waste"]),
                name="witnesseddestruction_method_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry}, witnessed by {self.witness}"


class StockCount(models.Model):
    """A blind count of one store, signed by a second person."""

    store = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="counts")
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField()
    flagged = models.BooleanField(default=False, help_text="A line differs from the ledger beyond the tolerance.")

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["store", "signed_at"], name="stockcount_store_signed_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(counted_by=F("signed_by")), name="stockcount_second_person_signs"),
        ]

    def __str__(self) -> str:
        return f"Count #{self.pk} of {self.store}"


class StockCountLine(models.Model):
    count = models.ForeignKey(StockCount, on_delete=models.PROTECT, related_name="lines")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+")
    counted_grams = models.DecimalField(max_digits=12, decimal_places=3)
    # The ledger's balance at signing, read under the balance row's lock.
    ledger_grams = models.DecimalField(max_digits=14, decimal_places=3)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="count_line")
    flagged = models.BooleanField(default=False)

    class Meta:
        ordering = ["count", "batch__code"]
        constraints = [
            models.UniqueConstraint(fields=["count", "batch"], name="stockcountline_one_per_batch"),
            models.CheckConstraint(condition=Q(counted_grams__gte=0), name="stockcountline_counted_not_negative"),
            models.CheckConstraint(condition=Q(ledger_grams__gte=0), name="stockcountline_ledger_not_negative"),
            models.CheckConstraint(
                condition=(Q(counted_grams=F("ledger_grams")) & Q(entry__isnull=True))
                | (~Q(counted_grams=F("ledger_grams")) & Q(entry__isnull=False)),
                name="stockcountline_entry_iff_difference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch}: {self.counted_grams} g counted, {self.ledger_grams} g in the ledger"

    @property
    def difference(self) -> Decimal:
        return Decimal(self.counted_grams) - Decimal(self.ledger_grams)


class DifferenceReview(models.Model):
    """A flagged difference (a manifest received beyond the tolerance, or a count line beyond
    it) looked at by a programme admin or release officer, who records what explains it. One
    review per flagged item; never changed."""

    class Reason(models.TextChoices):
        HANDLING_LOSS = "handling_loss", "Accepted: ordinary handling or weighing loss"
        SCALE_FAULT = "scale_fault", "Scale fault found: scales checked and recalibrated"
        RECORDING_ERROR = "recording_error", "Typing error at receipt or count, corrected on the ledger"
        SPILLAGE_CONFIRMED = "spillage_confirmed", "Spillage confirmed with the people who handled it"
        UNEXPLAINED = "unexplained", "Not explained: reported to the programme lead"

    manifest = models.OneToOneField(Manifest, on_delete=models.PROTECT, null=True, blank=True, related_name="review")
    count_line = models.OneToOneField(StockCountLine, on_delete=models.PROTECT, null=True, blank=True, related_name="review")
    reason = models.CharField(max_length=24, choices=Reason.choices)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField()

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        permissions = [("review_difference", "Can review flagged custody differences")]
        constraints = [
            models.CheckConstraint(
                condition=Q(manifest__isnull=False, count_line__isnull=True) | Q(manifest__isnull=True, count_line__isnull=False),
                name="differencereview_one_target",
            ),
            models.CheckConstraint(
                condition=Q(reason__in=["handling_loss", "scale_fault", "recording_error", "spillage_confirmed", "unexplained"]),
                name="differencereview_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target}: {self.get_reason_display()}"

    @property
    def target(self):
        return self.manifest if self.manifest_id else self.count_line


# The programme's code for a supplier: a short prefix and a number (SUP-0014), so it cannot
# carry a person's name. A supplier's lot number is theirs: letters, digits and separators.
SUPPLIER_REF_REGEX = r"^[A-Z]{1,4}-[0-9]{1,6}$"
SUPPLIER_LOT_REGEX = r"^[A-Z0-9][A-Z0-9._/-]{0,39}$"


class BatchReceipt(models.Model):
    """What arrived from the supplier, weighed by one person and confirmed by another."""

    batch = models.OneToOneField(Batch, on_delete=models.PROTECT, related_name="receipt")
    # A code the programme gives its supplier, never a person's name.
    supplier_ref = models.CharField(max_length=11)
    supplier_lot = models.CharField(max_length=40)
    packages = models.PositiveIntegerField()
    weighed_grams = models.DecimalField(max_digits=12, decimal_places=3)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=Q(packages__gt=0), name="batchreceipt_packages_positive"),
            models.CheckConstraint(condition=Q(weighed_grams__gt=0), name="batchreceipt_weighed_grams_positive"),
            models.CheckConstraint(condition=~Q(received_by=F("confirmed_by")), name="batchreceipt_second_person_confirms"),
            models.CheckConstraint(condition=Q(supplier_ref__regex=SUPPLIER_REF_REGEX), name="batchreceipt_supplier_ref_is_code"),
            models.CheckConstraint(condition=Q(supplier_lot__regex=SUPPLIER_LOT_REGEX), name="batchreceipt_supplier_lot_is_code"),
        ]

    def __str__(self) -> str:
        return f"Receipt of {self.batch}: {self.supplier_ref} lot {self.supplier_lot}"
