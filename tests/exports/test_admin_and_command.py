"""The same exports from the admin pages and from ``manage.py export``: scoped, audited, streamed."""

from __future__ import annotations

import csv
import io

import pypdf
import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions.exports.base import ExportParams, registry
from distributions.exports.services import export_run, exports_for


@pytest.mark.django_db
def test_the_exports_page_lists_every_export_for_an_auditor_and_refuses_a_drug_checker(client, world, charlie, erin):
    client.force_login(charlie)
    page = client.get(reverse("admin:exports")).content.decode()
    for identifier in ("batch_report", "batch_reports", "ledger", "distribution_summary"):
        assert reverse("admin:export", args=[identifier]) in page
    client.force_login(erin)
    assert client.get(reverse("admin:exports")).status_code == 403
    assert client.post(reverse("admin:export", args=["ledger"]), {"format": "csv"}).status_code == 403


@pytest.mark.django_db
def test_a_csv_download_is_streamed_and_audited(client, world, charlie):
    client.force_login(charlie)
    assert client.get(reverse("admin:export", args=["ledger"])).status_code == 200
    response = client.post(reverse("admin:export", args=["ledger"]), {"format": "csv"}, REMOTE_ADDR="10.0.0.7")
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ledger.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "entry_id" and rows[-1][:2] == ["verify_ledger", "ok"]
    record = AuditRecord.objects.get(action="export.ledger")
    assert record.actor == charlie and record.ip_address == "10.0.0.7"


@pytest.mark.django_db
def test_behind_a_proxy_the_export_is_recorded_with_the_clients_address_not_the_proxys(client, world, charlie, settings):
    settings.PROXY_COUNT = 1
    client.force_login(charlie)
    response = client.post(reverse("admin:export", args=["ledger"]), {"format": "csv"}, REMOTE_ADDR="10.0.0.2",
                           HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.4")
    b"".join(response.streaming_content)
    record = AuditRecord.objects.get(action="export.ledger")
    # The entry the one trusted proxy appended; the one the client wrote itself is ignored.
    assert record.ip_address == "198.51.100.4"


@pytest.mark.django_db
def test_a_pdf_download_from_the_admin(client, world, charlie):
    client.force_login(charlie)
    url = reverse("admin:export", args=["batch_report"])
    assert f'value="{world.her.pk}" selected' in client.get(url, {"batch": world.her.pk}).content.decode()
    response = client.post(url, {"format": "pdf", "batch_id": world.her.pk})
    assert response["Content-Type"] == "application/pdf"
    text = pypdf.PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert world.her.code in text


@pytest.mark.django_db
def test_a_release_officer_downloads_the_batch_test_report_and_no_export_with_member_codes(client, world, dana):
    client.force_login(dana)
    dashboard = client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{reverse("admin:exports")}">Exports: batch test reports</a>' in dashboard
    assert f'{reverse("admin:export", args=["batch_report"])}?batch={world.coc.pk}' in dashboard
    assert "Recall report" not in dashboard  # on held batches, only the report they may run
    page = client.get(reverse("admin:exports")).content.decode()
    assert reverse("admin:export", args=["batch_report"]) in page
    assert [e.identifier for e in exports_for(dana)] == ["batch_report"]
    response = client.post(reverse("admin:export", args=["batch_report"]), {"format": "pdf", "batch_id": world.her.pk})
    assert response["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(response.content)).pages)
    assert world.her.code in text
    assert not any(m.code in text or m.display_code in text for m in world.vandu_members + world.solid_members)
    assert AuditRecord.objects.filter(action="export.batch_report", actor=dana).exists()
    for identifier in sorted(set(registry()) - {"batch_report"}):
        url = reverse("admin:export", args=[identifier])
        assert client.get(url).status_code == 403, identifier
        assert client.post(url, {"format": "csv"}).status_code == 403, identifier
        with pytest.raises(ServiceError) as refused:
            export_run(identifier=identifier, user=dana, params=ExportParams(), fmt="csv")
        assert refused.value.code == "not_permitted"
    assert not AuditRecord.objects.filter(action__startswith="export.").exclude(action="export.batch_report").exists()


def test_every_export_but_the_batch_test_report_needs_the_permission_that_covers_member_codes():
    assert {e.identifier: e.permission for e in registry().values() if e.permission != "distributions.export_reports"} == {
        "batch_report": "distributions.export_batch_report"
    }


@pytest.mark.django_db
def test_a_coordinator_gets_the_report_of_any_batch_the_batch_pages_show_them(client, world, bob):
    # Batches are programme-wide (distributions.visibility): the admin shows a coordinator every
    # batch with its checks, so the report of a batch that never reached their group is theirs too.
    client.force_login(bob)
    response = client.post(reverse("admin:export", args=["batch_report"]), {"format": "pdf", "batch_id": world.coc.pk})
    assert response["Content-Type"] == "application/pdf"
    assert AuditRecord.objects.filter(action="export.batch_report", actor=bob, target_id=str(world.coc.pk)).exists()



@pytest.mark.django_db
def test_bad_parameters_come_back_as_form_errors(client, world, charlie):
    client.force_login(charlie)
    response = client.post(
        reverse("admin:export", args=["batch_reports"]), {"format": "csv", "date_from": "2026-05-02", "date_to": "2026-05-01"}
    )
    assert response.status_code == 200 and "The start date is after the end date." in response.content.decode()
    assert client.get(reverse("admin:export", args=["nothing"])).status_code == 404


@pytest.mark.django_db
def test_the_command_writes_the_same_csv_scoped_to_the_user(world, charlie, bob):
    out = io.StringIO()
    call_command("export", "distribution_summary", "--user", "bob", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["group"] for r in rows} == {"SOLID"}
    assert AuditRecord.objects.filter(action="export.distribution_summary", actor=bob).count() == 1


@pytest.mark.django_db
def test_the_command_writes_a_pdf_to_a_file(world, charlie, tmp_path):
    target = tmp_path / "report.pdf"
    call_command("export", "batch_report", "--user", "charlie", "--batch", world.her.code, "--format", "pdf", "--output", str(target), stderr=io.StringIO())
    assert world.her.code in pypdf.PdfReader(str(target)).pages[0].extract_text()


@pytest.mark.django_db
def test_the_command_refuses_clearly(world, charlie, erin):
    with pytest.raises(CommandError, match="--user is required"):
        call_command("export", "ledger")
    with pytest.raises(CommandError, match="not_permitted"):
        call_command("export", "ledger", "--user", "erin", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no export called"):
        call_command("export", "everything", "--user", "charlie")
    with pytest.raises(CommandError, match="bad_format"):
        call_command("export", "ledger", "--user", "charlie", "--format", "xlsx", "--output", "/dev/null")
    listing = io.StringIO()
    call_command("export", "--list", stdout=listing)
    assert "distribution_summary" in listing.getvalue()
