"""Invalidation and retest in Debian's Chromium: a release officer withdraws a drug checker's FTIR
check (the batch page says what now blocks release, once), the checker records a retest from the
link beside the struck-through check (the form names what it replaces and starts with its
compounds), the retest's sample comes from the reference sample, and the officer releases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from distributions.models import Account, Balance
from testing_results import services
from testing_results.models import Batch, Compound, DrugCheck
from tests import factories as f
from tests.browser.conftest import admin_login
from tests.builders import finding, record_checks

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

C, D = Compound.Category, Compound.DrugClass


@pytest.fixture
def checked(db, erin):
    heroin = f.CompoundFactory(name="Heroin (diacetylmorphine)", category=C.ACTIVE, drug_class=D.OPIOID)
    caffeine = f.CompoundFactory(name="Caffeine", category=C.CUT, drug_class=D.OTHER)
    harmful = {n: f.CompoundFactory(name=n, category=C.HARMFUL, drug_class=c) for n, c in
               [("Fentanyl", D.FENTANYL), ("Bromazolam", D.BENZODIAZEPINE), ("Isotonitazene", D.NITAZENE)]}
    f.seeded_methods()
    substance = f.SubstanceFactory(name="Heroin", expected_compound=heroin)
    batch = services.batch_receive(substance=substance, grams=Decimal("30"), received_on=timezone.localdate(), by=erin)
    record_checks(batch=batch, method="ftir", by=erin, lab="Bench", sample_mg=Decimal("5"),
                  findings=[finding(heroin, "detected"), finding(caffeine, "detected")])
    record_checks(batch=batch, method="mass_spec", by=erin, lab="Lab",
                  findings=[finding(heroin, "detected", "60")] + [finding(c, "not_detected") for c in harmful.values()])
    record_checks(batch=batch, method="immunoassay", by=erin, lab="Bench",
                  findings=[finding(harmful["Fentanyl"], "negative"), finding(harmful["Bromazolam"], "negative")])
    return batch


def test_an_officer_invalidates_the_checker_retests_and_the_officer_releases(page, live_server, shots, checked, erin, dana):
    batch_url = f"/admin/testing_results/batch/{checked.pk}/change/"
    ftir = DrugCheck.objects.get(batch=checked, method="ftir")
    admin_login(page, live_server, "dana", next_url=batch_url)
    page.locator("td.field-validity a", has_text="Invalidate").first.click()
    page.select_option('select[name="reason"]', "instrument_fault")
    page.locator('#content-main input[type="submit"]').click()
    page.wait_for_url(f"{live_server.url}{batch_url}")
    shots(page, "invalidated")
    blockers = page.locator("ul.tr-blockers li").all_inner_texts()
    assert blockers == ["No valid FTIR spectrometry check is recorded; it must confirm the expected compound, "
                        "Heroin (diacetylmorphine)."]

    page.context.clear_cookies()
    admin_login(page, live_server, "erin", next_url=batch_url)
    page.get_by_role("link", name="Record a retest").click()
    shots(page, "retest-form")
    assert "Record a retest of the FTIR spectrometry check" in page.locator("h1").inner_text()
    assert "instrument fault" in page.locator("p.tr-note").inner_text()
    chosen = [page.locator(f'select[name="findings-{i}-compound"] option:checked').inner_text() for i in range(2)]
    assert chosen == ["Caffeine", "Heroin (diacetylmorphine)"]
    page.fill("#id_lab", "Bench")
    page.fill("#id_sample_mg", "5")
    page.select_option('select[name="findings-0-result"]', "detected")
    page.select_option('select[name="findings-1-result"]', "detected")
    page.get_by_role("button", name="Record check").click()
    page.wait_for_url(f"{live_server.url}{batch_url}")
    assert DrugCheck.objects.get(batch=checked, replaces=ftir)
    reference = Balance.objects.get(batch=checked, account__kind=Account.Kind.REFERENCE).grams
    assert Decimal(reference).quantize(Decimal("0.001")) == Decimal("0.995")
    assert "0.995 g held for retests" in page.locator("body").inner_text()

    page.context.clear_cookies()
    admin_login(page, live_server, "dana", next_url=batch_url)
    assert "Nothing blocks release" in page.locator(".tr-assessment").inner_text()
    page.locator(".object-tools a", has_text="Release").click()
    page.fill('textarea[name="reason"]', "All checks pass; FTIR retested after an instrument fault.")
    page.locator('#content-main input[type="submit"]').click()
    page.wait_for_url(f"{live_server.url}{batch_url}")
    shots(page, "released")
    assert Batch.objects.get(pk=checked.pk).status == Batch.Status.RELEASED
    validity = page.locator("td.field-validity").all_inner_texts()
    assert any("retested" in v for v in validity) and any("retest of the check of" in v for v in validity)
