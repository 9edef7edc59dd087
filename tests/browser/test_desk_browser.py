"""The distribution desk in Debian's Chromium, end to end, with screenshots of every step.

A coordinator logs in, serves a member three substances in one visit with the keyboard alone,
sees the allowance drop with the member still on screen, double-submits and still has one set of
entries, is refused (and nothing of the visit recorded) for a recalled batch; the member then
checks the public status page on a phone and sees the new remaining allowance. Other tests serve a
member with JavaScript switched off (Enter on a batch list sends nothing) and on a phone.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from distributions import services
from distributions.models import LedgerEntry
from members.codes import format_code
from testing_results import services as testing_services
from testing_results.models import Batch
from tests import factories as f
from tests.browser.conftest import admin_login
from tests.builders import transfer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PIN = "482915"  # tests.factories.MemberFactory's


def released_stock(group, substance, by, *, code: str, days: int) -> Batch:
    batch = f.BatchFactory(
        code=code,
        substance=substance,
        status=Batch.Status.RELEASED,
        best_before=timezone.localdate() + dt.timedelta(days=days),
        label_text=f"{substance.name} {code}: drug-checked, no fentanyl or benzodiazepines detected.",
    )
    services.intake_record(batch=batch, by=by)
    transfer(batch=batch, to_group=group, grams=Decimal("50.000"), by=by)
    return batch


def remaining_for(page, substance: str) -> str:
    return page.locator(f'#desk-allowances tr[data-substance="{substance}"] .desk-remaining').inner_text()


def look_up(page, code: str) -> None:
    field = page.get_by_label("Member code")
    field.fill(code)
    with page.expect_navigation():
        field.press("Enter")
    page.wait_for_selector("#desk-member-title")


@pytest.fixture
def three_substances(group_a, pat, heroin):
    cocaine = f.SubstanceFactory(name="Cocaine")
    meth = f.SubstanceFactory(name="Methamphetamine")
    return {
        "first": released_stock(group_a, heroin, pat, code="H-2025-001", days=30),
        "second": released_stock(group_a, heroin, pat, code="H-2025-002", days=90),
        "cocaine": released_stock(group_a, cocaine, pat, code="C-2025-001", days=60),
        "meth": released_stock(group_a, meth, pat, code="M-2025-001", days=60),
    }


def confirm_is_above_the_fold(page) -> bool:
    box = page.locator("#desk-confirm").bounding_box()
    return box is not None and box["y"] + box["height"] <= page.viewport_size["height"]


@pytest.mark.slow
def test_a_coordinator_serves_three_substances_in_one_visit_and_the_member_sees_the_new_allowance(
    page, chromium, live_server, shots, alice, dana, member, heroin, group_a, three_substances
):
    first, second = three_substances["first"], three_substances["second"]
    cocaine, meth = three_substances["cocaine"].substance, three_substances["meth"].substance
    desk_url = f"{live_server.url}/admin/desk/"

    admin_login(page, live_server, "alice")
    shots(page, "desk-ready")
    assert page.evaluate("document.activeElement.id") == "id_code"

    # A typo is caught by the check character.
    page.keyboard.type(member.code[:-1] + ("0" if member.code[-1] != "0" else "1"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#desk-code-errors")
    assert "typo" in page.locator("#desk-code-errors").inner_text()
    shots(page, "typo-caught")

    # Keyboard only: the code as printed, in lower case, Enter; the first substance's grams
    # (cocaine, the rows go by name) have the focus, each soonest best-before batch chosen.
    page.keyboard.press("Control+A")
    page.keyboard.type(format_code(member.code).lower())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#desk-member-title")
    assert page.locator("#desk-eligibility").inner_text().startswith("Eligible")
    assert remaining_for(page, "Heroin") == "14.000 g"
    options = page.locator(f"#desk-batch-{heroin.pk} option")
    assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [str(first.pk), str(second.pk)]
    assert page.locator(f"#desk-batch-{heroin.pk}").input_value() == str(first.pk)
    assert page.evaluate("document.activeElement.id") == f"desk-grams-{cocaine.pk}"
    # Confirm is on the first screen with three substances in stock, on a laptop and a tablet.
    for width, height in ((1280, 800), (768, 1024)):
        page.set_viewport_size({"width": width, "height": height})
        assert confirm_is_above_the_fold(page), (width, height)
        shots(page, f"member-shown-{width}x{height}")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Cocaine 2, then Tab past heroin's batch (already chosen) to its grams, then meth.
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"desk-batch-{heroin.pk}"
    page.keyboard.press("Tab")
    page.keyboard.type("3.5")
    page.keyboard.press("Tab")
    # With JavaScript, Enter on a batch list moves on to its grams and sends nothing.
    assert page.evaluate("document.activeElement.id") == f"desk-batch-{meth.pk}"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == f"desk-grams-{meth.pk}"
    page.keyboard.type("1.25")
    shots(page, "three-lines-entered")
    with page.expect_navigation(url=desk_url):
        page.keyboard.press("Enter")
    message = page.locator("ul.messagelist").inner_text()
    assert "Recorded 2.000 g of Cocaine, 3.500 g of Heroin, 1.250 g of Methamphetamine" in message
    # The member stays on screen, with what is left now; the cursor waits for the next code.
    assert format_code(member.code) in page.locator("#desk-member-title").inner_text()
    assert remaining_for(page, "Heroin") == "10.500 g"
    assert remaining_for(page, "Cocaine") == "12.000 g"
    assert page.locator("#desk-last .desk-undo").count() == 3
    assert page.evaluate("document.activeElement.id") == "id_code"
    shots(page, "visit-recorded-member-still-shown")
    page.reload()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count() == 3

    # A double click and then a resubmission of the very same form record once.
    page.locator(f"#desk-grams-{heroin.pk}").fill("1")
    form = page.evaluate(
        "Object.fromEntries(new FormData(document.getElementById('desk-record')).entries())"
    )
    with page.expect_navigation(url=desk_url):
        page.locator("#desk-confirm").dblclick()
    resent = page.request.post(f"{live_server.url}/admin/desk/record/", form=form)
    assert resent.ok
    assert "already recorded" in resent.text()
    assert LedgerEntry.objects.filter(idempotency_key__startswith=form["idempotency_key"].replace("-", "")).count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count() == 4
    page.reload()
    shots(page, "double-submit-recorded-once")

    # The second heroin batch is recalled while the member is at the desk: nothing of the visit is recorded.
    assert remaining_for(page, "Heroin") == "9.500 g"
    testing_services.batch_recall(batch=second, by=dana, reason="Public drug alert: nitazene found in a sibling lot")
    page.locator(f"#desk-batch-{heroin.pk}").select_option(str(second.pk))
    page.locator(f"#desk-grams-{heroin.pk}").fill("2")
    page.locator(f"#desk-grams-{cocaine.pk}").fill("1")
    with page.expect_navigation():
        page.locator("#desk-confirm").click()
    page.wait_for_selector(f"#desk-batch-errors-{heroin.pk}")
    refusal = page.locator(f"#desk-batch-errors-{heroin.pk}").inner_text()
    assert "recalled" in refusal.lower()
    assert page.locator("#desk-record").is_visible()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count() == 4
    shots(page, "recalled-batch-refused-nothing-recorded")

    # The member checks the public status page on their own phone.
    phone = chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        status = phone.new_page()
        status.goto(f"{live_server.url}/status/")
        shots(status, "status-page")
        status.get_by_label("Member code").fill(format_code(member.code))
        status.get_by_label("PIN").fill(PIN)
        with status.expect_navigation():
            status.get_by_label("PIN").press("Enter")
        text = status.locator("body").inner_text()
        assert "You can pick up today." in text
        assert re.search(r"9\.5(00)? g left of 14 g per 7 days", text), text
        assert "H-2025-002" not in text  # never received the recalled batch
        shots(status, "status-shows-new-allowance")
    finally:
        phone.close()


def test_the_desk_works_without_javascript_and_enter_on_a_batch_sends_nothing(
    page_without_js, live_server, shots, alice, member, heroin, group_a, three_substances
):
    page = page_without_js
    admin_login(page, live_server, "alice")
    look_up(page, member.code)
    assert page.evaluate("document.activeElement.id") == f"desk-grams-{three_substances['cocaine'].substance_id}"
    assert confirm_is_above_the_fold(page)

    # Enter on a batch list without JavaScript does not send the visit.
    page.locator(f"#desk-batch-{heroin.pk}").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert page.url == f"{live_server.url}/admin/desk/"
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION).count() == 0

    page.locator(f"#desk-grams-{heroin.pk}").fill("2.25")
    shots(page, "no-js-member-shown")
    with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
        page.locator("#desk-confirm").click()
    assert "Recorded 2.250 g of Heroin" in page.locator("ul.messagelist").inner_text()
    shots(page, "no-js-recorded")

    page.get_by_label("Undo this line").select_option("Wrong grams")
    with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
        page.get_by_role("button", name="Undo").click()
    assert "Undone" in page.locator("#desk-last").inner_text()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVERSAL, reason="wrong_grams").count() == 1
    shots(page, "no-js-undone")


def test_the_desk_fits_a_phone(page, live_server, shots, alice, member, heroin, group_a, three_substances):
    page.set_viewport_size({"width": 360, "height": 740})
    admin_login(page, live_server, "alice")
    look_up(page, member.code)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator(f"#desk-grams-{heroin.pk}").fill("1")
    with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
        page.locator("#desk-confirm").click()
    assert "Recorded 1.000 g of Heroin" in page.locator("ul.messagelist").inner_text()
    shots(page, "phone-recorded")
