"""The stock ledger and allowance policies.

A double-entry quantity ledger in grams. Every movement of stock is one ``LedgerEntry`` from one
``Account`` to another for one batch: intake (supplier → central store), transfer (between the
central store and group stores), distribution (group store → members), sample (→ lab),
destruction (→ destroyed), adjustment (either way between a store and the supplier account,
which stands for the world outside the programme, with a reason) and reversal (the mirror of
exactly one earlier entry, at most once). Entries are never updated or deleted: the model and
its queryset refuse, and on PostgreSQL a trigger refuses UPDATE and DELETE on the table.
Corrections are reversals.

``Balance`` holds the running grams per (account, batch), moved in the database (an UPDATE
that adds to the stored grams, never a figure read into Python and written back, which a
concurrent writer could overwrite) by the same transaction that writes the entry; the
database refuses a negative balance on an internal account (central and group stores), and
across all accounts each batch sums to zero.

Tamper evidence. Entries are hash-chained: each carries ``prev_hash`` and ``hash``, the SHA-256
of its content and of ``prev_hash``. There is one chain per internal balance: an entry belongs
to the chain of the (internal account, batch) it takes stock from, or, when it takes stock from
outside (intake, a positive adjustment, the reversal of a distribution), the one it puts stock
into. The internal ``Balance`` row is itself the chain head (``last_seq``, ``last_hash``).
Writers already lock that row before checking the stock, so appends to a chain are serialised
by the lock they need anyway, no two writers of different balances wait for each other, and
moving the head costs nothing: it is the same UPDATE that moves the grams. ``chain`` on the
entry names its head as ``"<account id>.<batch id>"``. ``manage.py verify_ledger`` recomputes
every chain, compares its end with the head, and recomputes the balances from the entries.

Lock order, for every writer: the member row (distributions only), then the internal balance
rows it touches in ascending id, then at most one external balance row (updated last), then
the audit chain head. Nothing is ever locked out of this order, so writers cannot deadlock.

``AllowancePolicy`` caps grams per member per substance over a rolling window: a programme-wide
default, optionally a stricter one per group. ``AllowanceOverride`` is an exceptional, logged
allowance for one member approved by a second coordinator. Writes go through
``distributions.services``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from compassionclub.audit.append_only import AppendOnlyModel, AppendOnlyQuerySet
from distributions.hashing import HASHED_FIELDS, entry_hash
from members.models import Member, MemberGroup
from testing_results.models import Batch, Substance

ZERO = Decimal("0.000")
GENESIS_HASH = "0" * 64


class Account(models.Model):
    class Kind(models.TextChoices):
        SUPPLIER = "supplier", "Supplier (external)"
        CENTRAL = "central", "Central store"
        GROUP = "group", "Group store"
        MEMBERS = "members", "Members (handed out)"
        LAB = "lab", "Lab (samples)"
        DESTROYED = "destroyed", "Destroyed"
        IN_TRANSIT = "in_transit", "In transit"
        REFERENCE = "reference", "Reference samples (retained)"

    # In transit is internal: the programme still holds those grams, on the road. So are the
    # reference samples retained at receipt (kept for retests, never handed out, not store
    # stock): internal so their balance can never go below zero and their entries are chained.
    INTERNAL_KINDS = frozenset({Kind.CENTRAL, Kind.GROUP, Kind.IN_TRANSIT, Kind.REFERENCE})
    STORE_KINDS = frozenset({Kind.CENTRAL, Kind.GROUP})

    kind = models.CharField(max_length=16, choices=Kind.choices)
    group = models.OneToOneField(
        MemberGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="store"
    )

    class Meta:
        ordering = ["kind", "group__short_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[
                    "supplier", "central", "group", "members", "lab", "destroyed", "in_transit", "reference",
                ]),
                name="account_kind_valid",
            ),
            models.CheckConstraint(
                condition=(Q(kind="group") & Q(group__isnull=False)) | (~Q(kind="group") & Q(group__isnull=True)),
                name="account_group_iff_group_kind",
            ),
            models.UniqueConstraint(fields=["kind"], condition=~Q(kind="group"), name="account_one_per_system_kind"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.GROUP and self.group_id:
            return f"{self.group.short_name} store"
        return self.get_kind_display()

    @property
    def is_internal(self) -> bool:
        return self.kind in self.INTERNAL_KINDS


class LedgerEntry(AppendOnlyModel):
    append_only_refusal = "Ledger entries are append-only; correct them with a reversal."

    class Kind(models.TextChoices):
        INTAKE = "intake", "Intake"
        TRANSFER = "transfer", "Transfer"
        DISTRIBUTION = "distribution", "Distribution"
        SAMPLE = "sample", "Sample"
        DESTRUCTION = "destruction", "Destruction"
        ADJUSTMENT = "adjustment", "Adjustment"
        REVERSAL = "reversal", "Reversal"
        # Custody (distributions.services.custody): a manifest's grams go on the road, arrive,
        # come back when it is cancelled, and what did not arrive (or more that did) is its own entry.
        MANIFEST_SEND = "manifest_send", "Sent on a manifest"
        MANIFEST_RECEIVE = "manifest_receive", "Received from a manifest"
        MANIFEST_CANCEL = "manifest_cancel", "Manifest cancelled"
        MANIFEST_DIFF = "manifest_diff", "Manifest difference at receipt"
        # Grams handed to a member in place of a recalled distribution (distributions.recalls):
        # group store → members like a distribution, never counted against the allowance.
        REPLACEMENT = "replacement", "Replacement for a recall"
        # The reference sample retained at receipt (distributions.services.reference): central
        # store → reference account; it leaves only as a sample for a retest or by witnessed
        # destruction once the batch is finished.
        REFERENCE = "reference", "Reference sample retained"

    CUSTODY_KINDS = frozenset({Kind.MANIFEST_SEND, Kind.MANIFEST_RECEIVE, Kind.MANIFEST_CANCEL, Kind.MANIFEST_DIFF})

    # What put grams of a batch in a member's hands: what a recall must reach. Only
    # distributions count against the allowance.
    HANDED_OUT = ("distribution", "replacement")

    # Reasons are codes, never free text: they are kept forever, and free text invites
    # details about people.
    class AdjustmentReason(models.TextChoices):
        REWEIGHED = "reweighed", "Re-weighed: the scale shows a different amount"
        SPILLED = "spilled", "Spilled or lost in handling"
        COUNT_ERROR = "count_error", "Counting or entry error"
        FOUND = "found", "Stock found"
        MOISTURE = "moisture", "Weight lost or gained with moisture"
        COUNT_DIFFERENCE = "count_difference", "Blind count differs from the ledger"

    class ManifestDifference(models.TextChoices):
        SPILLAGE = "spillage", "Spillage in transit"
        WEIGHING_DIFFERENCE = "weighing_difference", "Weighing difference between the scales"
        MISSING = "missing", "Missing on arrival"

    class DestructionReason(models.TextChoices):
        RECALLED = "recalled", "Recalled batch"
        EXPIRED = "expired", "Past its best-before date"
        DAMAGED = "damaged", "Damaged or contaminated"
        RETURNED = "returned", "Handed back and not reusable"
        REFERENCE_FINISHED = "reference_finished", "Reference sample no longer needed: the batch is finished"

    class ReversalReason(models.TextChoices):
        ENTERED_BY_MISTAKE = "entered_by_mistake", "Entered by mistake"
        WRONG_GRAMS = "wrong_grams", "Wrong grams"
        WRONG_BATCH = "wrong_batch", "Wrong batch"
        WRONG_MEMBER = "wrong_member", "Wrong member code"
        WRONG_STORE = "wrong_store", "Sent to the wrong store"
        NOT_HANDED_OVER = "not_handed_over", "Not handed over"
        DUPLICATE = "duplicate", "Recorded twice"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # No single-column indexes on batch, member and the accounts: entry_batch_kind_idx,
    # entry_member_occurred_idx and the (account, id) and (account, recorded_at) indexes lead with
    # them and serve every lookup by either.
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="ledger_entries", db_index=False)
    from_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries_out", db_index=False)
    to_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries_in", db_index=False)
    grams = models.DecimalField(max_digits=12, decimal_places=3)
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries", db_index=False
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    # Unique through named constraints (Meta), not unique=True, which on PostgreSQL also builds
    # a varchar_pattern_ops index for LIKE that nothing here runs and every insert pays for.
    idempotency_key = models.CharField(max_length=64)
    reason = models.CharField(max_length=200, blank=True)
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    # The chain this entry extends, "<account id>.<batch id>" of its head Balance row.
    chain = models.CharField(max_length=40)
    chain_seq = models.BigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        permissions = [
            ("record_distribution", "Can record distributions to members"),
            ("transfer_stock", "Can transfer stock between stores"),
            ("adjust_stock", "Can adjust, destroy or reverse stock"),
            ("export_reports", "Can export the ledger and reports"),
            # Apart from export_reports, which also covers the ledger with member codes: a release
            # officer files a batch's test report without reaching any member's code.
            ("export_batch_report", "Can export a batch's test report (PDF)"),
        ]
        indexes = [
            models.Index(fields=["member", "occurred_at"], name="entry_member_occurred_idx"),
            models.Index(fields=["batch", "kind"], name="entry_batch_kind_idx"),
            models.Index(fields=["occurred_at"], name="entry_occurred_idx"),
            # The ledger export's period and order (recorded_at, then id) read off the index.
            models.Index(fields=["recorded_at", "id"], name="entry_recorded_idx"),
            # A store's entries newest first, read off the index: a coordinator's ledger list
            # takes its page from these two ranges (``ledger_admin.StoreRangesPaginator``)
            # instead of walking every group's entries backwards.
            models.Index(fields=["from_account", "id"], name="entry_from_account_id_idx"),
            models.Index(fields=["to_account", "id"], name="entry_to_account_id_idx"),
            # A store's entries of a period: a coordinator's ledger export reads only its stores'
            # rows of the period (with (account, id) it read each store's whole history and the
            # period of every group, and kept the intersection).
            models.Index(fields=["from_account", "recorded_at"], name="entry_from_account_rec_idx"),
            models.Index(fields=["to_account", "recorded_at"], name="entry_to_account_rec_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(grams__gt=0), name="ledgerentry_grams_positive"),
            models.CheckConstraint(condition=~Q(from_account=F("to_account")), name="ledgerentry_accounts_differ"),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "intake", "transfer", "distribution", "sample", "destruction", "adjustment", "reversal",
                        "manifest_send", "manifest_receive", "manifest_cancel", "manifest_diff", "replacement",
                        "reference",
                    ]
                ),
                name="ledgerentry_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(kind="reversal")
                | (Q(kind__in=["distribution", "replacement"]) & Q(member__isnull=False))
                | (~Q(kind__in=["distribution", "replacement"]) & Q(member__isnull=True)),
                name="ledgerentry_member_iff_distribution",
            ),
            models.CheckConstraint(
                condition=(Q(kind="reversal") & Q(reverses__isnull=False)) | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="ledgerentry_reverses_iff_reversal",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["adjustment", "reversal", "manifest_diff"]) | ~Q(reason=""),
                name="ledgerentry_reason_required",
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="ledgerentry_idempotency_key_not_empty"),
            models.UniqueConstraint(fields=["chain", "chain_seq"], name="ledgerentry_chain_seq_unique"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledgerentry_idempotency_key_unique"),
            models.UniqueConstraint(fields=["hash"], name="ledgerentry_hash_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.grams} g {self.batch}"

    def compute_hash(self) -> str:
        """SHA-256 of everything the entry says, and of the hash of the entry before it."""
        return entry_hash(*(getattr(self, name) for name in HASHED_FIELDS))


def chain_name(account_id: int, batch_id: int) -> str:
    """The name of the chain whose head is the balance of ``account_id`` for ``batch_id``."""
    return f"{account_id}.{batch_id}"


class Balance(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balances")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="balances")
    grams = models.DecimalField(max_digits=14, decimal_places=3, default=ZERO)
    # Copied from the account so the database itself can refuse an internal overdraw.
    internal = models.BooleanField()
    # Head of this balance's hash chain (internal balances only; see the module docstring).
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        ordering = ["account", "batch"]
        constraints = [
            models.UniqueConstraint(fields=["account", "batch"], name="balance_one_per_account_batch"),
            models.CheckConstraint(condition=Q(internal=False) | Q(grams__gte=0), name="balance_internal_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.account} / {self.batch}: {self.grams} g"


class AllowancePolicy(models.Model):
    substance = models.ForeignKey(Substance, on_delete=models.PROTECT, related_name="allowance_policies")
    group = models.ForeignKey(
        MemberGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="allowance_policies",
        help_text="Empty for the programme-wide default; a group's policy may only be stricter.",
    )
    window_days = models.PositiveIntegerField(default=7)
    max_grams = models.DecimalField(max_digits=10, decimal_places=3, default=Decimal("14.000"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "allowance policies"
        ordering = ["substance", "group"]
        constraints = [
            models.CheckConstraint(condition=Q(window_days__gt=0), name="allowancepolicy_window_positive"),
            models.CheckConstraint(condition=Q(max_grams__gt=0), name="allowancepolicy_max_grams_positive"),
            models.UniqueConstraint(fields=["substance"], condition=Q(group__isnull=True), name="allowancepolicy_one_default_per_substance"),
            models.UniqueConstraint(fields=["substance", "group"], condition=Q(group__isnull=False), name="allowancepolicy_one_per_group_substance"),
        ]

    def __str__(self) -> str:
        scope = self.group.short_name if self.group_id else "programme"
        return f"{self.substance}: {self.max_grams} g / {self.window_days} d ({scope})"


class AllowanceOverride(models.Model):
    class Reason(models.TextChoices):
        TRAVEL = "travel", "Travel or time away from the drop-in"
        TOLERANCE = "tolerance", "Assessed higher tolerance"
        CLOSURE = "closure", "Drop-in closure"
        OTHER = "other", "Other exceptional circumstance"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="allowance_overrides")
    substance = models.ForeignKey(Substance, on_delete=models.PROTECT, related_name="+")
    max_grams = models.DecimalField(max_digits=10, decimal_places=3)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-valid_from"]
        constraints = [
            models.CheckConstraint(condition=Q(max_grams__gt=0), name="allowanceoverride_max_grams_positive"),
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="allowanceoverride_valid_period"),
            models.CheckConstraint(condition=~Q(approved_by=F("requested_by")), name="allowanceoverride_second_coordinator"),
            models.CheckConstraint(condition=Q(reason__in=["travel", "tolerance", "closure", "other"]), name="allowanceoverride_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.substance}: {self.max_grams} g until {self.valid_until:%Y-%m-%d}"


# Physical custody (manifests, counts, witnessed destruction, receipts) lives in its own module.
from distributions.custody_models import (  # noqa: E402, F401
    BatchReceipt,
    CustodyPolicy,
    DifferenceReview,
    Manifest,
    StockCount,
    StockCountLine,
    WitnessedDestruction,
)

