"""Batch test reports: the PDF certificate of one batch and the CSV of many, checked against the database."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pypdf
import pytest

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.exports.base import ExportParams
from distributions.exports.batch_reports import FINDING_COLUMNS, BatchReportPdf
from distributions.exports.render import csv_cell
from distributions.exports.services import export_run
from distributions.models import LedgerEntry
from testing_results import services as testing
from testing_results.models import Batch, DrugCheck, Finding
from tests.builders import record_checks
from tests.exports.conftest import finding, today_range
from tests.exports.helpers import run_csv, run_csv_text


def pdf_text(user, batch) -> str:
    output = export_run(identifier="batch_report", user=user, params=ExportParams(batch_id=batch.pk), fmt="pdf")
    assert output.content.startswith(b"%PDF") and output.content_type == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(output.content))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.django_db
def test_the_pdf_holds_every_section_and_figure_of_the_batch(world, charlie):
    text = pdf_text(charlie, world.her)
    flat = " ".join(text.split())
    for section in [
        "Batch test report: HER-", "Receipt", "Drug checks", "Detection limits of the methods",
        "Release assessment and decision", "Status history, holds and recalls", "Grams by movement (from the ledger)",
        "Ledger",
    ]:
        assert section in flat, section
    # Receipt, each check with who, lab and sample, each finding with its concentration.
    assert "200.000 g" in flat and "Heroin" in flat
    for lab, sample in [("Bruker Alpha II", "5.000 mg"), ("Partner lab LC-MS/MS", "2.000 mg"), ("BTNX strips", "10.000 mg")]:
        assert lab in flat and sample in flat
    assert "Heroin (diacetylmorphine) Active (the substance itself) Detected 62.400 %" in flat
    # "Not detected" in numbers: a strip's negative is below its lot's cut-off, FTIR's "not
    # detected" below its 5 % floor, a result without a recorded limit says so.
    assert "Fentanyl Harmful adulterant Below 20 ng/mL" in flat
    assert "Fentanyl Harmful adulterant Below 5 %" in flat
    assert "Bromazolam Harmful adulterant Not detected (no limit recorded)" in flat
    assert "lot TEST-fentanyl (Fentanyl and analogues), cut-off 20 ng/" in flat and "Bruker Alpha II (TEST-ftir)" in flat
    assert "by erin" in flat
    # Detection limits, assessment, decision, hold history.
    # FTIR's floor as the batch page states it, never "5-10 %".
    assert "Sees a compound from about 5 % of the sample" in flat and "5-10" not in flat and "Trusted to rule out" in flat
    assert "releasable, no blocker" in flat
    assert "Decision: Released by dana" in flat
    assert "put on hold or recalled 1 time" in flat and "Drug alert under review." in flat
    # Grams by movement, to the milligram, as the ledger has them.
    assert "Received (intake) 200.000" in flat
    assert "Sent on manifests 120.000" in flat and "Received from manifests 120.000" in flat
    assert "Distributed to members 25.000" in flat  # 7 x 3.5 - 3.5 reversed + 2 x 2
    assert "Sampled by drug checks 0.017" in flat
    assert "Destroyed 1.000" in flat
    # The 1 g reference sample retained at receipt is not store stock.
    assert "Retained as the reference sample 1.000" in flat
    assert "On hand in the stores, from the entries 172.983" in flat
    assert "On hand in the stores, from the balances 172.983" in flat
    assert "agree to the milligram" in flat
    last = LedgerEntry.objects.filter(batch=world.her).order_by("-recorded_at", "-id").first()
    assert last.hash in "".join(text.split())
    # Page numbers and generation time.
    assert "Page 1 of" in flat and "Generated" in flat


@pytest.mark.django_db
def test_the_pdf_of_a_recalled_batch_states_the_recall_and_of_a_waiting_one_its_blockers(world, charlie):
    flat = " ".join(pdf_text(charlie, world.coc).split())
    assert "Recalled" in flat and "Bromazolam found by a partner lab." in flat
    flat = " ".join(pdf_text(charlie, world.waiting).split())
    assert "not releasable" in flat and "no release decision has been taken yet" in flat


@pytest.mark.django_db
def test_the_pdf_export_is_recorded_in_the_audit_trail(world, charlie):
    pdf_text(charlie, world.her)
    record = AuditRecord.objects.get(action="export.batch_report")
    assert record.actor == charlie and record.target_id == str(world.her.pk) and record.new["format"] == "pdf"


@pytest.mark.django_db
def test_a_coordinator_gets_the_reports_of_every_batch_like_the_batch_pages(world, alice, bob):
    # Batches are programme-wide; what a coordinator's report leaves out is other groups' stock.
    assert "HER-" in pdf_text(bob, world.her)
    assert "COC-" in pdf_text(bob, world.coc)
    codes = {world.her.code, world.coc.code, world.waiting.code}
    assert {r["batch_code"] for r in run_csv("batch_reports", alice)} == codes
    assert {r["batch_code"] for r in run_csv("batch_reports", bob)} == codes


@pytest.mark.django_db
def test_the_csv_has_one_row_per_finding_matching_the_database(world, charlie):
    rows = run_csv("batch_reports", charlie)
    findings = Finding.objects.select_related("drug_check__batch", "compound").order_by("id")
    assert len(rows) == findings.count() == 23
    by_key = {(r["check_id"], r["compound"]): r for r in rows}
    for f in findings:
        row = by_key[(str(f.drug_check_id), f.compound.name)]
        assert row["batch_code"] == f.drug_check.batch.code
        assert row["method"] == f.drug_check.method_id
        assert row["result"] == f.result
        assert row["sample_mg"] == f"{f.drug_check.sample_mg:.3f}"
        assert row["concentration_pct"] == ("" if f.concentration_pct is None else f"{f.concentration_pct:.3f}")
    # A stable order: by receipt, batch code, check, compound.
    assert [(r["batch_code"], int(r["check_id"]), r["compound"]) for r in rows] == sorted(
        (r["batch_code"], int(r["check_id"]), r["compound"]) for r in rows
    )


def reference_csv(findings) -> str:
    """The batch reports CSV as written from model instances, cell by cell through ``csv_cell``:
    the export reads plain values and renders repeated cells once, and must give the same bytes."""
    lines = [FINDING_COLUMNS]
    for f in findings:
        c, b = f.drug_check, f.drug_check.batch
        lines.append([csv_cell(v) for v in (
            b.code, b.substance.name, b.status, b.received_on, b.received_grams, b.best_before,
            c.pk, c.method_id, c.performed_at, c.performed_by.get_username(), c.lab, c.sample_mg,
            f.compound.name, f.compound.category, f.compound.drug_class, f.result, f.concentration_pct,
        )])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(lines)
    return out.getvalue()


@pytest.mark.django_db
def test_the_csv_is_byte_for_byte_the_rendering_of_each_finding(world, charlie, erin):
    from tests import factories as f

    # A formula-like compound, a lab with a comma and a quote, no concentration, a moment with a
    # fraction of a second in summer time, and a batch with no best-before date.
    evil = f.CompoundFactory(name="-1+1", category="cut")
    record_checks(
        batch=world.waiting, method="mass_spec", findings=[finding(evil, "detected", "1.5")], by=erin,
        sample_mg=Decimal("2.250"), lab='Lab "A", bench 2',
    )
    check = world.waiting.checks.order_by("-id").first()
    DrugCheck.objects.filter(pk=check.pk).update(performed_at=dt.datetime(2026, 7, 1, 6, 59, 59, 120, tzinfo=dt.UTC))
    Batch.objects.filter(pk=world.coc.pk).update(best_before=None)
    findings = Finding.objects.select_related(
        "compound", "drug_check__performed_by", "drug_check__batch__substance"
    ).order_by(
        "drug_check__batch__received_on", "drug_check__batch__code", "drug_check__performed_at",
        "drug_check__id", "compound__name",
    )
    text = run_csv_text("batch_reports", charlie)
    assert text == reference_csv(findings)
    assert text.count("\r\n") == Finding.objects.count() + 1
    assert run_csv_text("batch_reports", charlie, status=Batch.Status.QUARANTINED) == reference_csv(
        findings.filter(drug_check__batch__status=Batch.Status.QUARANTINED)
    )


@pytest.mark.django_db
def test_the_csv_filters_by_date_substance_and_status(world, charlie):
    assert {r["batch_code"] for r in run_csv("batch_reports", charlie, substance_id=world.cocaine.pk)} == {world.coc.code}
    assert {r["batch_code"] for r in run_csv("batch_reports", charlie, status=Batch.Status.QUARANTINED)} == {world.waiting.code}
    start, end = today_range()
    assert len(run_csv("batch_reports", charlie, date_from=start, date_to=end)) == 23
    assert run_csv("batch_reports", charlie, date_from=end) == []
    with pytest.raises(ServiceError) as refused:
        run_csv("batch_reports", charlie, status="lost")
    assert refused.value.code == "bad_status"
    with pytest.raises(ServiceError) as refused:
        run_csv("batch_reports", charlie, date_from=end, date_to=start)
    assert refused.value.code == "bad_period"


@pytest.mark.django_db
def test_a_compound_name_that_looks_like_a_formula_is_neutralised(world, charlie, erin):
    from tests import factories as f

    evil = f.CompoundFactory(name='=HYPERLINK("http://evil.example","x")', category="cut")
    record_checks(
        batch=world.waiting, method="mass_spec", findings=[finding(evil, "detected", "1.5")], by=erin,
        sample_mg=Decimal("0"), lab="@lab",
    )
    rows = [r for r in run_csv("batch_reports", charlie) if r["check_id"] and r["method"] == "mass_spec" and r["batch_code"] == world.waiting.code]
    assert rows[0]["compound"] == "'" + evil.name
    assert rows[0]["lab_or_instrument"] == "'@lab"


@pytest.mark.django_db
def test_a_user_without_the_export_permission_is_refused(world, erin):
    with pytest.raises(ServiceError) as refused:
        run_csv("batch_reports", erin)
    assert refused.value.code == "not_permitted"
    assert not AuditRecord.objects.filter(action__startswith="export.").exists()


@pytest.mark.django_db
def test_the_pdf_strikes_through_an_invalidated_check_and_gives_messages_not_codes(world, charlie, dana):
    from testing_results.models import DetectionLimit, DrugCheck

    DetectionLimit.objects.create(method_id="mass_spec", drug_class="fentanyl", limit_pct=Decimal("0.01"))
    wrong = DrugCheck.objects.get(batch=world.waiting, method="ftir")
    testing.check_invalidate(drug_check=wrong, reason="transcription_error", by=dana)
    text = " ".join(pdf_text(charlie, world.waiting).split())
    assert f"Check {wrong.pk}: FTIR spectrometry (invalidated)" in text
    assert "transcription error. The release rule ignores this check." in text
    assert "No valid FTIR spectrometry check is recorded; it must confirm the expected compound" in text  # the blocker's message ...
    assert "method_missing" not in text and "Blocker" not in text  # ... never its code
    exporter = BatchReportPdf(user=charlie, params=ExportParams(batch_id=world.waiting.pk))
    exporter.check()
    html = exporter.html()
    assert f"<s>Check {wrong.pk}: FTIR spectrometry</s>" in html and "<td><s>Heroin (diacetylmorphine)</s></td>" in html
    her = " ".join(pdf_text(charlie, world.her).split())
    assert "Fentanyl Harmful adulterant Below 0.01 %" in her  # mass spectrometry's recorded limit
    assert "Fentanyl and analogues: below 0.01 %" in her  # in the table of the methods' limits
