"""A retest from the batch page: an invalidated check offers "Record a retest" to a drug
checker; the form says what it replaces and starts with that check's compounds; the new check
is linked to the old one (and, for a strip, offers only lots of its class). Its sample comes from
the reference sample retained at receipt."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from distributions.models import Account, Balance
from testing_results import services
from testing_results.models import DrugCheck
from tests import factories as f
from tests.testing_results.conftest import finding

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(heroin, erin):
    return services.batch_receive(substance=heroin, grams=Decimal("20"), received_on=timezone.localdate(), by=erin)


def test_an_invalidated_check_is_retested_from_the_batch_page(client, received, record, vocab, erin, dana):
    batch = received
    first = record(batch, "ftir", [finding(vocab["heroin"], "detected"), finding(vocab["caffeine"], "detected")], sample_mg="5")
    services.check_invalidate(drug_check=first, reason="instrument_fault", by=dana)
    change_url = reverse("admin:testing_results_batch_change", args=[batch.pk])
    retest_url = f"{reverse('admin:testing_results_batch_check', args=[batch.pk])}?method=ftir&replaces={first.pk}"

    client.force_login(dana)  # a release officer records no check: no link
    assert "Record a retest" not in client.get(change_url).content.decode()
    client.force_login(erin)
    page = client.get(change_url).content.decode()
    assert retest_url.replace("&", "&amp;") in page and "Record a retest" in page
    form = client.get(retest_url).content.decode()
    assert f"Record a retest of the FTIR spectrometry check of {timezone.localtime(first.performed_at):%Y-%m-%d %H:%M}" in form
    assert "invalidated by dana (instrument fault)" in form
    rows = re.findall(r'<select name="findings-(\d+)-compound"[^>]*>.*?<option value="(\d+)" selected>', form, re.S)
    assert [int(pk) for _i, pk in rows[:2]] == sorted([vocab["caffeine"].pk, vocab["heroin"].pk],
                                                      key=lambda pk: "Caffeine" if pk == vocab["caffeine"].pk else "Heroin")
    data = {
        "performed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "instrument": first.instrument_id, "lab": "Lab",
        "sample_mg": "5", "findings-TOTAL_FORMS": "2", "findings-INITIAL_FORMS": "0",
        "findings-MIN_NUM_FORMS": "0", "findings-MAX_NUM_FORMS": "60",
        "findings-0-compound": vocab["heroin"].pk, "findings-0-result": "detected",
        "findings-1-compound": vocab["caffeine"].pk, "findings-1-result": "detected",
    }
    response = client.post(retest_url, data)
    assert response.status_code == 302 and response["Location"] == change_url
    retest = DrugCheck.objects.exclude(pk=first.pk).get()
    assert retest.replaces == first
    reference = Balance.objects.get(batch=batch, account__kind=Account.Kind.REFERENCE).grams
    assert Decimal(reference).quantize(Decimal("0.001")) == Decimal("0.995")  # the retest's 5 mg
    page = client.get(change_url).content.decode()
    assert "retested" in page and "retest of the check of" in page and "Record a retest" not in page
    # The batch test report says so too.
    from distributions.exports.base import ExportParams
    from distributions.exports.batch_reports import BatchReportPdf

    exporter = BatchReportPdf(user=f.UserFactory(username="auditor", roles=["Auditor"]), params=ExportParams(batch_id=batch.pk))
    exporter.check()
    html = exporter.html()
    assert f"<s>Check {first.pk}: FTIR spectrometry</s> (invalidated)" in html
    assert f"Check {retest.pk}: FTIR spectrometry, retest of check {first.pk}" in html
    assert "Used by a retest" in html and "Held now: 0.995 g." in html


def test_a_strip_retest_offers_only_lots_of_its_class(client, received, record, vocab, erin, dana):
    batch = received
    first = record(batch, "immunoassay", [finding(vocab["fentanyl"], "negative")])
    services.check_invalidate(drug_check=first, reason="expired_lot", by=dana)
    f.StripLotFactory(drug_class="benzodiazepine")
    client.force_login(erin)
    picker = client.get(f"{reverse('admin:testing_results_batch_check', args=[batch.pk])}?method=immunoassay&replaces={first.pk}")
    text = picker.content.decode()
    assert "fentanyl and analogues" in text and "Immunoassay test strip: benzodiazepines" not in text
    assert f"replaces={first.pk}" in text and "FTIR" not in text.split("Which check?")[1]


def test_a_retest_lists_directly_under_the_check_it_replaces_whatever_its_time(client, heroin, record, vocab, erin, dana):
    """A retest's time is typed: one dated before the check it replaces (or a retest of that
    retest dated earlier still) still lists directly under it, on the batch page and in the PDF."""
    day = timezone.localdate() - timezone.timedelta(days=1)
    batch = services.batch_receive(substance=heroin, grams=Decimal("20"), received_on=day - timezone.timedelta(days=1), by=erin)

    def at(hour):
        return timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()).replace(hour=hour))

    ftir = [finding(vocab["heroin"], "detected"), finding(vocab["caffeine"], "detected")]
    first = record(batch, "ftir", ftir, performed_at=at(12))
    later = record(batch, "ftir", ftir, performed_at=at(13))
    services.check_invalidate(drug_check=first, reason="transcription_error", by=dana)
    retest = record(batch, "ftir", ftir, performed_at=at(11), replaces=first)
    services.check_invalidate(drug_check=retest, reason="transcription_error", by=dana)
    again = record(batch, "ftir", ftir, performed_at=at(10), replaces=retest)
    expected = [first.pk, retest.pk, again.pk, later.pk]

    client.force_login(dana)
    response = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk]))
    checks = next(s for s in response.context["inline_admin_formsets"] if s.opts.model is DrugCheck)
    assert [form.form.instance.pk for form in checks] == expected

    from distributions.exports.batch_reports import batch_record

    assert [c.pk for c in batch_record(batch, dana)["checks"]] == expected
