"""The check form in Debian's Chromium: a drug checker picks a method, gets the panel's rows and
only that method's results, adds a row, records the check; a strip is picked by its lot. The
release officer then reads "below X" on the batch page. No script is needed and the strict CSP
reports nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from testing_results import services
from testing_results.models import Compound, DetectionLimit, DrugCheck
from tests import factories as f
from tests.browser.conftest import admin_login

# serialized_rollback: the live server needs a transactional test, whose flush would otherwise take
# the seeded methods, capabilities and limits from the tests after it.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

C, D = Compound.Category, Compound.DrugClass


@pytest.fixture
def bench(db, pat):
    heroin = f.CompoundFactory(name="Heroin (diacetylmorphine)", category=C.ACTIVE, drug_class=D.OPIOID)
    fentanyl = f.CompoundFactory(name="Fentanyl", category=C.HARMFUL, drug_class=D.FENTANYL)
    bromazolam = f.CompoundFactory(name="Bromazolam", category=C.HARMFUL, drug_class=D.BENZODIAZEPINE)
    f.CompoundFactory(name="Caffeine", category=C.CUT, drug_class=D.OTHER)
    methods = f.seeded_methods()
    methods["mass_spec"].panel.set([heroin, fentanyl, bromazolam])
    methods["immunoassay"].panel.set([fentanyl, bromazolam])
    f.InstrumentFactory(method="mass_spec", serial="Q-TOF-1")
    f.StripLotFactory(drug_class=D.FENTANYL, lot_number="FYL-1")
    DetectionLimit.objects.create(method_id="mass_spec", drug_class=D.FENTANYL, limit_pct=Decimal("0.01"))
    substance = f.SubstanceFactory(name="Heroin", expected_compound=heroin)
    return f.BatchFactory(substance=substance, code="HER-2026-0077")


def options(page, name: str) -> list[str]:
    return page.locator(f'select[name="{name}"] option').evaluate_all("els => els.map(e => e.value).filter(v => v)")


@pytest.mark.slow
def test_a_checker_records_a_check_from_the_panel_and_the_officer_reads_below_x(
    page, live_server, shots, bench, erin, dana
):
    batch_url = f"/admin/testing_results/batch/{bench.pk}/change/"
    admin_login(page, live_server, "erin", next_url=batch_url)
    page.get_by_role("link", name="Record a check").click()
    shots(page, "choose-method")
    page.get_by_role("link", name="Mass spectrometry").click()
    shots(page, "mass-spec-panel")

    # The panel's rows, then two empty ones; only mass spectrometry's results; a concentration.
    chosen = [page.locator(f'select[name="findings-{i}-compound"] option:checked').inner_text() for i in range(5)]
    assert chosen == ["Bromazolam", "Fentanyl", "Heroin (diacetylmorphine)", "---------", "---------"]
    assert options(page, "findings-0-result") == ["detected", "not_detected"]
    page.fill("#id_lab", "Partner lab")
    page.fill("#id_sample_mg", "0")
    page.select_option('select[name="findings-0-result"]', "not_detected")
    page.select_option('select[name="findings-1-result"]', "not_detected")
    page.select_option('select[name="findings-2-result"]', "detected")
    page.fill('input[name="findings-2-concentration_pct"]', "58.5")

    page.get_by_role("button", name="Add a row").click()
    shots(page, "a-row-added")
    assert page.locator('select[name="findings-5-compound"]').count() == 1
    assert page.locator('input[name="findings-2-concentration_pct"]').input_value() == "58.5"
    assert not DrugCheck.objects.exists()
    page.select_option('select[name="findings-5-compound"]', label="Caffeine")
    page.select_option('select[name="findings-5-result"]', "detected")
    page.get_by_role("button", name="Record check").click()
    page.wait_for_url(f"{live_server.url}{batch_url}")
    shots(page, "recorded")
    check = DrugCheck.objects.get()
    assert check.method_id == "mass_spec" and check.instrument.serial == "Q-TOF-1" and check.findings.count() == 4

    # A strip is picked by its lot: its class's row only, strip results, no concentration.
    page.get_by_role("link", name="Record a check").click()
    page.get_by_role("link", name="Immunoassay test strip: fentanyl and analogues").click()
    shots(page, "strip-panel")
    assert options(page, "findings-0-result") == ["positive", "negative", "invalid"]
    assert page.locator('input[name$="concentration_pct"]').count() == 0
    assert page.locator('select[name="findings-0-compound"] option:checked').inner_text() == "Fentanyl"
    page.fill("#id_lab", "Bench")
    page.fill("#id_sample_mg", "0")
    page.select_option('select[name="findings-0-result"]', "negative")
    page.get_by_role("button", name="Record check").click()
    page.wait_for_url(f"{live_server.url}{batch_url}")
    assert DrugCheck.objects.filter(method="immunoassay", strip_lot__lot_number="FYL-1").exists()

    # The release officer reads the results in numbers, and may invalidate a check.
    page.context.clear_cookies()
    admin_login(page, live_server, "dana", next_url=batch_url)
    shots(page, "officer-batch-page")
    text = page.locator("body").inner_text()
    assert "Fentanyl: below 0.01 %" in text and "Fentanyl: below 20 ng/mL" in text
    assert "Bromazolam: not detected (no limit recorded)" in text
    services.check_invalidate(drug_check=check, reason="transcription_error", by=dana)
    page.reload()
    shots(page, "invalidated-struck-through")
    assert page.locator("s.tr-invalidated").count() == 1
    assert timezone.localdate()  # the page is in the programme's time zone (tests run in America/Vancouver)
