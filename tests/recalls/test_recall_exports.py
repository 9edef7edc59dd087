"""Recall exports: adverse events as CSV with small counts suppressed, the recall report PDF
for auditors, and the poster per held or recalled batch (English and French, no member data)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services as ledger
from distributions.exports.base import ExportParams
from distributions.exports.services import export_run
from distributions.recalls import services
from distributions.recalls.adverse_events import adverse_event_report
from distributions.recalls.exports import RecallPosterPdf, RecallReportPdf
from distributions.recalls.models import RecallNotice
from distributions.recalls.replacements import replacement_record
from testing_results import services as testing
from tests.builders import destroy, transfer
from tests.distributions.ledger_helpers import batch_at_group, key
from tests.exports.helpers import run_csv


def report(batch, by, outcome, severity, at=None, member=None):
    return adverse_event_report(batch=batch, occurred_at=at or timezone.now() - dt.timedelta(hours=1), outcome=outcome,
                                severity=severity, by=by, member=member)


@pytest.mark.django_db
def test_the_adverse_events_csv_suppresses_small_counts_and_names_no_member(out_in_groups, alice, charlie):
    batch, (a1, a2, _b1) = out_in_groups
    for _ in range(5):
        report(batch, alice, "skin_reaction", "mild")
    report(batch, alice, "unexpected_sedation", "moderate", member=a1)
    report(batch, alice, "naloxone", "severe", member=a2)
    rows = run_csv("adverse_events", charlie, batch_id=batch.pk)
    by_outcome = {r["outcome"]: r for r in rows}
    assert by_outcome["skin_reaction"]["reports"] == "5" and by_outcome["skin_reaction"]["members_named"] == "<5"
    assert by_outcome["naloxone"]["reports"] == "<5" and by_outcome["naloxone"]["batch_held_by_a_report"] == "true"
    assert by_outcome["unexpected_sedation"]["reports"] == "<5"
    assert all(r["batch_code"] == batch.code for r in rows) and not any("total" in str(r).lower() for r in rows)
    text = str(rows)
    assert a1.code not in text and a2.code not in text
    assert AuditRecord.objects.filter(action="export.adverse_events").count() == 1


@pytest.mark.django_db
def test_the_adverse_events_csv_filters_by_period(out_in_groups, alice, charlie):
    batch, _ = out_in_groups
    from testing_results.models import Batch

    Batch.objects.filter(pk=batch.pk).update(received_on=timezone.localdate() - dt.timedelta(days=60))
    report(batch, alice, "other", "mild", at=timezone.now() - dt.timedelta(days=40))
    report(batch, alice, "other", "mild")
    today = timezone.localdate()
    rows = run_csv("adverse_events", charlie, date_from=today - dt.timedelta(days=7), date_to=today, period="month")
    assert len(rows) == 1 and rows[0]["period"] == "month"


@pytest.mark.django_db
def test_the_recall_report_tells_the_whole_story_with_times(out_in_groups, dana, alice, bob, pat, charlie, group_a, group_b):
    batch, (a1, a2, _b1) = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found.")
    services.recall_notice_acknowledge(notice=RecallNotice.objects.get(batch=batch, group=group_a), by=alice)
    services.member_told_record(member=a1, batch=batch, by=alice)
    transfer(batch=batch, from_group=group_a, grams=Decimal("33.500"), by=pat)
    destroy(batch=batch, grams=Decimal("10.000"), reason="recalled", by=pat)
    good = batch_at_group(group_a, pat, grams="10.000", substance=batch.substance)
    handout = a2.ledger_entries.filter(kind="distribution", reversed_by__isnull=True).get()
    replacement_record(distribution=handout, batch=good, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    exporter = RecallReportPdf(user=charlie, params=ExportParams(batch_id=batch.pk))
    exporter.check()
    html = exporter.html()
    for expected in ("Recall report: batch", "Fentanyl found.", "VANDU", "SOLID", "by alice", "not yet",
                     "Stock pulled back to the central store (33.500 g) and destroyed (10.000 g)",
                     "Told at the desk: 1", "Replacements (1, 3.000 g)", good.code):
        assert expected in html, expected
    assert a1.code not in html and a2.code not in html
    pdf = export_run(identifier="recall_report", user=charlie, params=ExportParams(batch_id=batch.pk), fmt="pdf")
    assert pdf.content.startswith(b"%PDF-")


@pytest.mark.django_db
def test_the_poster_is_in_english_and_french_and_carries_no_member_data(out_in_groups, dana, alice):
    batch, members = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found in member ABCD's sample.")
    exporter = RecallPosterPdf(user=alice, params=ExportParams(batch_id=batch.pk))
    exporter.check()
    html = exporter.html()
    assert "RECALL: DO NOT USE" in html and "RAPPEL : NE PAS CONSOMMER" in html
    assert batch.code in html and 'lang="fr"' in html
    assert "member ABCD" not in html  # the officer's free-text reason is not printed
    for member in members:
        assert member.code not in html and member.display_code not in html
    output = export_run(identifier="recall_poster", user=alice, params=ExportParams(batch_id=batch.pk), fmt="pdf")
    assert output.content.startswith(b"%PDF-") and output.filename == f"recall_poster_{batch.code}.pdf"


@pytest.mark.django_db
def test_a_poster_of_a_released_batch_is_refused(out_in_groups, alice):
    batch, _ = out_in_groups
    with pytest.raises(ServiceError) as refused:
        export_run(identifier="recall_poster", user=alice, params=ExportParams(batch_id=batch.pk), fmt="pdf")
    assert refused.value.code == "batch_not_recalled"
    assert not AuditRecord.objects.filter(action="export.recall_poster").exists()


@pytest.mark.django_db
def test_the_batch_test_report_counts_adverse_events(out_in_groups, alice, charlie):
    from distributions.exports.batch_reports import BatchReportPdf

    batch, _ = out_in_groups
    report(batch, alice, "naloxone", "severe")
    report(batch, alice, "other", "mild")
    exporter = BatchReportPdf(user=charlie, params=ExportParams(batch_id=batch.pk))
    exporter.check()
    assert "2 reports: severe 1, moderate 0, mild 1." in exporter.html()


@pytest.mark.django_db
def test_the_recall_report_marks_an_undone_replacement_and_sums_what_stands(out_in_groups, dana, alice, pat, charlie, group_a):
    batch, (_a1, a2, _b1) = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found.")
    good = batch_at_group(group_a, pat, grams="10.000", substance=batch.substance)
    handout = a2.ledger_entries.filter(kind="distribution", reversed_by__isnull=True).get()
    first = replacement_record(distribution=handout, batch=good, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    ledger.entry_reverse(entry=first, reason="wrong_grams", by=alice)
    replacement_record(distribution=handout, batch=good, grams=Decimal("2.000"), by=alice, idempotency_key=key())
    exporter = RecallReportPdf(user=charlie, params=ExportParams(batch_id=batch.pk))
    exporter.check()
    html = exporter.html()
    assert "Replacements (2, 2.000 g)" in html and "(undone " in html and html.count("not counted") == 1
