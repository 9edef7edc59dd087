"""Custody in Chromium, as its people do it: a programme admin sends a manifest; the receiving
group's coordinator weighs it in short (a reason is asked for, then it is flagged); the store is
counted blind and signed by a second coordinator with their password; stock is destroyed before
that witness; a release officer reviews the flagged differences. Every POST is followed by a
reload that records nothing more, and each page passes axe-core's WCAG 2.1 AA checks."""

from __future__ import annotations

import pytest

from distributions.models import Account, DifferenceReview, LedgerEntry, Manifest, StockCount, WitnessedDestruction
from distributions.services.ledger import group_account, system_account
from tests.browser.conftest import PASSWORD, admin_login
from tests.browser.test_accessibility import check
from tests.distributions.ledger_helpers import D, batch_in_central, store_grams

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def submit(page) -> None:
    with page.expect_navigation():
        page.locator("#content-main input[type=submit], #content-main button[type=submit]").first.click()


def reload_records_nothing(page) -> None:
    entries = LedgerEntry.objects.count()
    page.reload()
    assert LedgerEntry.objects.count() == entries


def test_a_manifest_is_sent_received_short_counted_destroyed_and_reviewed(
    chromium, page, live_server, axe_source, shots, pat, alice, carol, dana, group_a
):
    batch = batch_in_central(grams="100.000", by=pat)
    store = group_account(group_a)  # the group's store exists before the page lists it
    problems = []

    admin_login(page, live_server, "pat", next_url="/admin/distributions/manifest/add/")
    page.select_option("#id_batch", str(batch.pk))
    page.select_option("#id_from_store", str(system_account(Account.Kind.CENTRAL).pk))
    page.select_option("#id_to_store", str(store.pk))
    page.fill("#id_grams", "20")
    page.fill("#id_packages", "2")
    problems += check(page, axe_source, shots, "manifest-send")
    submit(page)
    manifest = Manifest.objects.get()
    assert "sent: 20.000 g in 2 packages" in page.inner_text(".messagelist")
    reload_records_nothing(page)
    assert Manifest.objects.count() == 1
    problems += check(page, axe_source, shots, "manifest-page")

    page.context.clear_cookies()
    admin_login(page, live_server, "alice", next_url="/admin/")
    assert manifest.code in page.inner_text("#dashboard-in-transit")
    page.click(f"#dashboard-in-transit a:has-text('{manifest.code}')")
    page.click("text=Receive: weigh and enter the grams")
    page.fill("#id_grams_received", "18.5")
    submit(page)
    assert "choose the reason for the difference" in page.inner_text(".errornote, .errorlist")
    page.select_option("#id_reason", "spillage")
    problems += check(page, axe_source, shots, "manifest-receive")
    submit(page)
    assert "flagged for review" in page.inner_text(".messagelist")
    reload_records_nothing(page)
    assert store_grams(batch, group_a) == D("18.5")

    page.goto(f"{live_server.url}/admin/distributions/stockcount/add/?store={group_account(group_a).pk}")
    assert "18.500" not in page.inner_text("#content-main")  # blind: the ledger's grams are not shown
    page.fill(f"#id_batch_{batch.pk}", "17.000")  # 1.5 g short: beyond 0.5 g or 1 %
    page.select_option("#id_witness", label="carol")
    page.fill("#id_witness_password", "not carol's")
    submit(page)
    assert "password was not accepted" in page.inner_text(".errornote, .errorlist")
    assert page.input_value("#id_witness_password") == ""
    page.fill("#id_witness_password", PASSWORD)
    problems += check(page, axe_source, shots, "count-form")
    submit(page)
    reload_records_nothing(page)
    assert StockCount.objects.get().signed_by == carol
    problems += check(page, axe_source, shots, "count-page")

    page.goto(f"{live_server.url}/admin/distributions/witnesseddestruction/add/")
    page.select_option("#id_store", str(group_account(group_a).pk))
    page.select_option("#id_batch", str(batch.pk))
    page.fill("#id_grams", "1")
    page.select_option("#id_reason", "damaged")
    page.select_option("#id_method", "denaturing_kit")
    page.select_option("#id_witness", label="carol")
    page.fill("#id_witness_password", PASSWORD)
    problems += check(page, axe_source, shots, "destroy-form")
    submit(page)
    assert "witnessed by carol" in page.inner_text(".messagelist")
    reload_records_nothing(page)
    assert WitnessedDestruction.objects.count() == 1 and store_grams(batch, group_a) == D(16)

    page.context.clear_cookies()
    admin_login(page, live_server, "dana", next_url="/admin/")
    assert "2 flagged differences" in page.inner_text("#dashboard-unreviewed")
    page.click("#dashboard-unreviewed a")
    problems += check(page, axe_source, shots, "flagged-list")
    row = page.locator(f"#flagged-manifest-{manifest.pk}")
    row.locator("select").select_option("spillage_confirmed")
    with page.expect_navigation():
        row.locator("button").click()
    reload_records_nothing(page)
    assert DifferenceReview.objects.get().manifest == manifest
    assert page.locator(f"#flagged-manifest-{manifest.pk}").count() == 0
    assert problems == [], "\n".join(problems)
