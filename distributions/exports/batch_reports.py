"""Batch test reports: one batch as a PDF certificate, many batches as CSV (one row per finding).

The PDF gathers a batch's whole record from receipt to the last gram: the checks and their
findings, the methods' detection limits, the release assessment and decision, every status
change, the ledger totals by movement and the hash of the batch's last ledger entry. The totals
are computed from the ledger entries (entries that were reversed and the reversals themselves
both left out, which is the same as netting them) and reconciled against the stored balances,
so the report shows whether the two agree to the milligram.

Coordinators may export only batches that reached one of their groups' stores; what they get
is about the batch, not about other groups' members.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Sum, TextField
from django.db.models.functions import Cast

from compassionclub.errors import ServiceError
from compassionclub.quantities import MG_PER_G, MILLIGRAM
from distributions.exports.base import CSV, Exporter, register
from distributions.exports.batch_pdf import BatchPdf
from distributions.exports.custody import custody_events
from distributions.exports.ledger import _usernames
from distributions.exports.render import LocalMoment, csv_cell, neutral
from distributions.models import Account, Balance, LedgerEntry
from distributions.recalls.selectors import adverse_counts
from distributions.selectors import reference_sample
from distributions.visibility import batches_visible_to, stock_visible_to
from testing_results.limits import FLOOR_PCT, finding_result_text
from testing_results.models import Batch, BatchStatusChange, DrugCheck, Finding
from testing_results.selectors import checks_in_order, limit_table

ZERO = Decimal("0.000")


GENERAL_LIMITS = {
    DrugCheck.Method.FTIR: f"Sees a compound from about {FLOOR_PCT['ftir'].normalize():f} % of the sample by weight "
    "(the floor no recorded limit may go below). Its 'not detected' never rules out fentanyl, its analogues, "
    "nitazenes or benzodiazepines, which kill at far lower levels.",
    DrugCheck.Method.MASS_SPEC: "Sees traces (well under 0.1 % of the sample) of the compounds in the lab's library; "
    "its 'not detected' rules a compound out only if the compound is in that library.",
    DrugCheck.Method.IMMUNOASSAY: "Answers only for the drug class a strip is made for, above the strip's cut-off "
    "(fentanyl strips about 20 ng/mL in the prepared solution); an invalid strip rules nothing out.",
}


def detection_limits() -> list[dict[str, Any]]:
    """What each method can see (with the limits recorded in numbers), and which classes the
    programme trusts it to rule out (the ``MethodCapability`` table the release rule reads),
    stated on every report."""
    from testing_results.models import DetectionLimit, MethodCapability

    trusted: dict[str, list[str]] = {m: [] for m in DrugCheck.Method.values}
    blind: dict[str, list[str]] = {m: [] for m in DrugCheck.Method.values}
    for cap in MethodCapability.objects.order_by("method", "drug_class"):
        (trusted if cap.can_rule_out else blind).setdefault(cap.method_id, []).append(str(cap.get_drug_class_display()))
    recorded: dict[str, list[str]] = {}
    for limit in DetectionLimit.objects.select_related("compound", "instrument").order_by("method", "instrument", "drug_class"):
        what = limit.compound.name if limit.compound_id else (limit.get_drug_class_display() if limit.drug_class else "anything")
        where = f" on {limit.instrument}" if limit.instrument_id else ""
        recorded.setdefault(limit.method_id, []).append(f"{what}{where}: below {limit.limit_pct.normalize():f} %")
    return [
        {
            "method": DrugCheck.Method(m).label,
            "limit": GENERAL_LIMITS[m] + (" Recorded limits: " + "; ".join(recorded[m]) + "." if m in recorded else ""),
            "rules_out": ", ".join(trusted[m]) or "nothing",
            "cannot_rule_out": ", ".join(blind[m]) or "nothing",
        }
        for m in DrugCheck.Method.values
    ]


def q(value: Decimal | None) -> Decimal:
    """Grams to the milligram (SQLite returns sums with stray digits)."""
    return Decimal(value or 0).quantize(MILLIGRAM)


@dataclass(frozen=True)
class Movement:
    label: str
    grams: Decimal


_BY_KIND = {
    LedgerEntry.Kind.INTAKE: "received", LedgerEntry.Kind.DISTRIBUTION: "distributed",
    LedgerEntry.Kind.SAMPLE: "sampled", LedgerEntry.Kind.DESTRUCTION: "destroyed",
    LedgerEntry.Kind.MANIFEST_SEND: "sent", LedgerEntry.Kind.MANIFEST_RECEIVE: "arrived",
    LedgerEntry.Kind.MANIFEST_CANCEL: "cancelled", LedgerEntry.Kind.REFERENCE: "retained",
}


def _movement(kind: str, src: str, dst: str, internal: set) -> str:
    """Which line of the report a movement of ``kind`` from ``src`` to ``dst`` adds to."""
    A = Account.Kind
    if src == A.REFERENCE:
        return "reference_sampled" if kind == LedgerEntry.Kind.SAMPLE else "reference_destroyed"
    if kind == LedgerEntry.Kind.TRANSFER:
        return {(A.CENTRAL, A.GROUP): "to_groups", (A.GROUP, A.GROUP): "between_groups"}.get((src, dst), "to_central")
    if kind == LedgerEntry.Kind.ADJUSTMENT:
        return "adjusted_in" if dst in internal else "adjusted_out"
    if kind == LedgerEntry.Kind.MANIFEST_DIFF:
        return "transit_in" if dst in internal else "transit_out"
    return _BY_KIND[kind]


def ledger_totals(batch: Batch) -> dict[str, Any]:
    """Grams by movement for one batch, from the ledger, in one query; plus the balances."""
    rows = (
        LedgerEntry.objects.filter(batch=batch, reversed_by__isnull=True)
        .exclude(kind=LedgerEntry.Kind.REVERSAL)
        .values("kind", "from_account__kind", "to_account__kind")
        .annotate(grams=Sum("grams"))
        .order_by("kind", "from_account__kind", "to_account__kind")
    )
    # Stock in transit is still the programme's: on hand, on the road. The reference sample is
    # not store stock: retaining it takes grams off hand (its own lines say what became of it).
    internal = set(Account.INTERNAL_KINDS) - {Account.Kind.REFERENCE}
    sums = {
        "received": ZERO, "to_groups": ZERO, "between_groups": ZERO, "to_central": ZERO,
        "distributed": ZERO, "sampled": ZERO, "destroyed": ZERO, "adjusted_in": ZERO, "adjusted_out": ZERO,
        "sent": ZERO, "arrived": ZERO, "cancelled": ZERO, "transit_in": ZERO, "transit_out": ZERO,
        "retained": ZERO, "reference_sampled": ZERO, "reference_destroyed": ZERO,
    }
    on_hand_from_entries = ZERO
    for row in rows:
        grams, kind, src, dst = q(row["grams"]), row["kind"], row["from_account__kind"], row["to_account__kind"]
        if dst in internal:
            on_hand_from_entries += grams
        if src in internal:
            on_hand_from_entries -= grams
        sums[_movement(kind, src, dst, internal)] += grams
    return {**sums, "on_hand_from_entries": on_hand_from_entries}


def batch_record(batch: Batch, user) -> dict[str, Any]:
    """Everything the certificate shows, in a constant number of queries."""
    from testing_results.services import assess_release

    checks = checks_in_order(
        DrugCheck.objects.filter(batch=batch)
        .select_related("performed_by", "invalidated_by", "instrument", "strip_lot")
        .prefetch_related("findings__compound")
    )
    # "Not detected" in numbers: each absent result reads "below" its limit or its lot's cut-off.
    limits = limit_table()
    for check in checks:
        for finding in check.findings.all():
            finding.result_text = finding_result_text(finding, check, limits)
    history = list(
        BatchStatusChange.objects.filter(batch=batch).select_related("changed_by").order_by("changed_at", "id")
    )
    decisions = [h for h in history if h.to_status in (Batch.Status.RELEASED, Batch.Status.REJECTED) and h.from_status == Batch.Status.QUARANTINED]
    totals = ledger_totals(batch)
    stores = Balance.objects.filter(batch=batch, internal=True).exclude(account__kind=Account.Kind.REFERENCE)
    balances = list(
        stock_visible_to(
            user, stores.select_related("account__group")
        ).order_by("account__kind", "account__group__short_name")
    )
    balance_total = q(stores.aggregate(g=Sum("grams"))["g"])
    last_entry = (
        LedgerEntry.objects.filter(batch=batch).order_by("-recorded_at", "-chain_seq", "-id").first()
    )
    sampled_by_checks = sum((c.sample_mg for c in checks), ZERO) / MG_PER_G
    movements = [
        Movement("Received (intake)", totals["received"]),
        Movement("Transferred from the central store to groups", totals["to_groups"]),
        Movement("Transferred between groups", totals["between_groups"]),
        Movement("Returned to the central store", totals["to_central"]),
        Movement("Distributed to members", totals["distributed"]),
        Movement("Sampled by drug checks", totals["sampled"]),
        Movement("Destroyed", totals["destroyed"]),
        Movement("Adjusted in", totals["adjusted_in"]),
        Movement("Adjusted out", totals["adjusted_out"]),
        Movement("Sent on manifests", totals["sent"]),
        Movement("Received from manifests", totals["arrived"]),
        Movement("Manifests cancelled, back to the sender", totals["cancelled"]),
        Movement("More than sent, found at receipt", totals["transit_in"]),
        Movement("Missing at receipt (spillage, weighing, missing)", totals["transit_out"]),
        Movement("Retained as the reference sample", totals["retained"]),
        Movement("Reference sample used by retests", totals["reference_sampled"]),
        Movement("Reference sample destroyed (witnessed)", totals["reference_destroyed"]),
    ]
    return {
        "batch": batch,
        "checks": checks,
        "limits": detection_limits(),
        "assessment": assess_release(batch),
        "history": history,
        "decision": decisions[-1] if decisions else None,
        "holds": [h for h in history if h.to_status in (Batch.Status.ON_HOLD, Batch.Status.RECALLED)],
        "movements": movements,
        "totals": totals,
        "on_hand_from_entries": totals["on_hand_from_entries"],
        "balances": balances,
        "balance_total": balance_total,
        "reconciled": balance_total == totals["on_hand_from_entries"],
        "difference": balance_total - totals["on_hand_from_entries"],
        "sampled_by_checks": q(sampled_by_checks),
        "last_entry": last_entry,
        "custody": custody_events(Batch.objects.filter(pk=batch.pk), user),
        "adverse": adverse_counts(batch),
        "reference": reference_sample(batch),
    }


@register
class BatchReportPdf(BatchPdf):
    identifier = "batch_report"
    verbose_name = "Batch test report (one batch, PDF)"
    description = "The certificate of one batch: checks, findings, release decision, holds and recalls, grams by movement, last ledger hash."
    template = "exports/batch_report.html"
    # Checks, findings, decisions, grams by movement and the custody chain: no member data.
    permission = "distributions.export_batch_report"

    def check(self) -> None:
        super().check()
        batch = batches_visible_to(self.user, Batch.objects.select_related("substance", "created_by")).filter(
            pk=self.params.batch_id
        ).first()
        if batch is None:
            # The same answer for a batch that does not exist and one outside the user's groups.
            raise ServiceError("batch_not_found", "No batch with that id is visible to you.")
        self.batch = batch

    def context(self) -> dict[str, Any]:
        return batch_record(self.batch, self.user)


FINDING_COLUMNS = [
    "batch_code", "substance", "batch_status", "received_on", "received_grams", "best_before",
    "check_id", "method", "performed_at", "performed_by", "lab_or_instrument", "sample_mg",
    "compound", "compound_category", "compound_class", "result", "concentration_pct",
]


def _compound_cells() -> dict[int, tuple[str, str, str]]:
    from testing_results.models import Compound

    return {
        compound_id: (neutral(name), neutral(category), neutral(drug_class))
        for compound_id, name, category, drug_class in Compound.objects.values_list("id", "name", "category", "drug_class")
    }


@register
class BatchReportsCsv(Exporter):
    """One row per finding of every check of the batches asked for, ordered by batch receipt
    date, batch code, check time, check id and compound name. The date range filters on the
    date the batch was received; status on the batch's current status.

    A batch's cells repeat on each of its findings and a compound's on each of its results, so
    they are rendered once, from one query each, and the findings' query reads plain values (no
    four model instances per row); on PostgreSQL it renders the check's moment and the grams as
    text itself, as the ledger's export does."""

    identifier = "batch_reports"
    verbose_name = "Batch test reports (many batches, CSV)"
    description = "One row per finding, filterable by date received, substance and batch status."
    formats = (CSV,)
    parameters = ("date_from", "date_to", "substance_id", "status")
    rendered = True

    def check(self) -> None:
        super().check()
        if self.params.status and self.params.status not in Batch.Status.values:
            raise ServiceError("bad_status", f"Unknown batch status {self.params.status!r}.")

    def header(self) -> list[str]:
        return FINDING_COLUMNS

    def batches(self):
        p = self.params
        qs = batches_visible_to(self.user, Batch.objects.all())
        if p.date_from:
            qs = qs.filter(received_on__gte=p.date_from)
        if p.date_to:
            qs = qs.filter(received_on__lte=p.date_to)
        if p.substance_id:
            qs = qs.filter(substance_id=p.substance_id)
        if p.status:
            qs = qs.filter(status=p.status)
        return qs

    def queryset(self):
        return Finding.objects.filter(drug_check__batch__in=self.batches()).order_by(
            "drug_check__batch__received_on", "drug_check__batch__code", "drug_check__performed_at",
            "drug_check__id", "compound__name",
        )

    def batch_cells(self) -> dict[int, tuple[str, ...]]:
        """batch id → the row's first six cells, for the batches asked for. One query."""
        return {
            batch_id: (neutral(code), neutral(substance), neutral(status), received_on.isoformat(),
                       format(grams, "f"), best_before.isoformat() if best_before is not None else "")
            for batch_id, code, substance, status, received_on, grams, best_before in self.batches().order_by().values_list(
                "id", "code", "substance__name", "status", "received_on", "received_grams", "best_before"
            )
        }

    def check_cells(self) -> dict[int, tuple[str, ...]]:
        """check id → the row's six cells from the check, for the batches asked for. One query;
        on PostgreSQL it renders the moment and the grams itself."""
        qs = DrugCheck.objects.filter(batch__in=self.batches()).order_by()
        if connection.vendor == "postgresql":
            qs = qs.annotate(performed_text=LocalMoment("performed_at"), sample_text=Cast("sample_mg", TextField()))
            fields, text = ("performed_text", "sample_text"), str
        else:
            fields, text = ("performed_at", "sample_mg"), csv_cell
        users = _usernames()
        return {
            check_id: (str(check_id), neutral(method), text(performed_at), users[performed_by_id], neutral(lab), text(sample_mg))
            for check_id, method, performed_at, performed_by_id, lab, sample_mg in qs.values_list(
                "id", "method_id", fields[0], "performed_by_id", "lab", fields[1]
            )
        }

    def rows(self) -> Iterator[Sequence[Any]]:
        batches = self.batch_cells()
        if not batches:
            return
        checks, compounds = self.check_cells(), _compound_cells()
        qs = self.queryset()
        if connection.vendor == "postgresql":
            qs, concentration, text = qs.annotate(pct_text=Cast("concentration_pct", TextField())), "pct_text", str
        else:
            concentration, text = "concentration_pct", csv_cell
        for batch_id, check_id, compound_id, result, pct in qs.values_list(
            "drug_check__batch_id", "drug_check_id", "compound_id", "result", concentration
        ).iterator(chunk_size=self.chunk_size):
            yield (
                *batches[batch_id], *checks[check_id], *compounds[compound_id], neutral(result),
                text(pct) if pct is not None else "",
            )
