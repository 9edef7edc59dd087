"""Lab reports are parsed, not judged by name and first bytes: a "%PDF-" file holding a web page
and script, and a PDF that runs JavaScript when opened, were accepted and served to staff."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from compassionclub.errors import ServiceError
from testing_results.pdf_check import pdf_validate
from tests import pdfs


@pytest.mark.parametrize("make", [
    pdfs.html_posing_as_pdf, pdfs.open_action_javascript, pdfs.document_javascript, pdfs.launch_action,
    pdfs.uri_action, pdfs.embedded_file, pdfs.truncated,
])
def test_an_unsafe_or_malformed_pdf_is_refused(make):
    with pytest.raises(ServiceError) as refused:
        pdf_validate(make())
    assert refused.value.code in ("report_unsafe", "report_not_pdf")


def test_data_after_the_end_of_a_pdf_is_refused():
    with pytest.raises(ServiceError):
        pdf_validate(pdfs.plain_pdf() + b"<html><script>alert(1)</script></html>")


def test_a_plain_pdf_is_accepted():
    pdf_validate(pdfs.plain_pdf())


@pytest.mark.django_db
def test_the_upload_form_refuses_a_pdf_with_javascript(client, erin):
    from testing_results.services.batches import _validate_report

    upload = SimpleUploadedFile("report.pdf", pdfs.open_action_javascript(), content_type="application/pdf")
    with pytest.raises(ServiceError) as refused:
        _validate_report(upload)
    assert "JavaScript" in str(refused.value) or "runs or opens" in str(refused.value)
