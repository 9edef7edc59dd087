"""The distribution desk in Debian's Chromium, end to end, with screenshots of every step.

A coordinator logs in, serves a member with the keyboard alone, sees the allowance drop,
double-submits and still has one entry, is refused for a recalled batch with a clear message;
the member then checks the public status page and sees the new remaining allowance. A second
test serves a member with JavaScript switched off.
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
    services.stock_transfer(batch=batch, to_group=group, grams=Decimal("50.000"), by=by)
    return batch


def remaining_for(page, substance: str) -> str:
    return page.locator(f'#desk-allowances tr[data-substance="{substance}"] .desk-remaining').inner_text()


def look_up(page, code: str) -> None:
    field = page.get_by_label("Member code")
    field.fill(code)
    with page.expect_navigation():
        field.press("Enter")
    page.wait_for_selector("#desk-member-title")


def test_a_coordinator_serves_a_member_and_the_member_sees_the_new_allowance(
    page, chromium, live_server, shots, alice, dana, pat, member, heroin, group_a
):
    first = released_stock(group_a, heroin, pat, code="H-2025-001", days=30)
    second = released_stock(group_a, heroin, pat, code="H-2025-002", days=90)
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

    # Keyboard only: the code, Enter; the first batch (soonest best-before) has the focus.
    page.keyboard.press("Control+A")
    page.keyboard.type(format_code(member.code).lower())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#desk-member-title")
    assert page.locator("#desk-eligibility").inner_text().strip() == "Eligible"
    assert remaining_for(page, "Heroin") == "14.000 g"
    batches = page.locator("#desk-record input[name=batch]")
    assert [batches.nth(i).get_attribute("value") for i in range(batches.count())] == [str(first.pk), str(second.pk)]
    assert page.evaluate("document.activeElement.value") == str(first.pk)
    assert "H-2025-001: drug-checked" in page.locator("#desk-record").inner_text()
    shots(page, "member-shown")

    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_grams"
    page.keyboard.type("3.5")
    shots(page, "grams-entered")
    with page.expect_navigation(url=desk_url):
        page.keyboard.press("Enter")
    assert "Recorded 3.500 g of Heroin" in page.locator("ul.messagelist").inner_text()
    assert format_code(member.code) in page.locator("#desk-last").inner_text()
    assert page.evaluate("document.activeElement.id") == "id_code"
    shots(page, "recorded-ready-for-next")

    # The allowance dropped.
    look_up(page, member.code)
    assert remaining_for(page, "Heroin") == "10.500 g"
    shots(page, "allowance-dropped")

    # A double click and then a resubmission of the very same form record once.
    # With JavaScript, Enter on a batch chooses it and moves on to the grams.
    page.locator(f"#desk-batch-{first.pk}").focus()
    page.keyboard.press("Enter")
    assert page.locator(f"#desk-batch-{first.pk}").is_checked()
    assert page.evaluate("document.activeElement.id") == "id_grams"
    page.keyboard.type("1")
    form = page.evaluate(
        "Object.fromEntries(new FormData(document.getElementById('desk-record')).entries())"
    )
    with page.expect_navigation(url=desk_url):
        page.locator("#desk-confirm").dblclick()
    resent = page.request.post(f"{live_server.url}/admin/desk/record/", form=form)
    assert resent.ok
    assert "already recorded" in resent.text()
    assert LedgerEntry.objects.filter(idempotency_key=form["idempotency_key"]).count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count() == 2
    page.reload()
    shots(page, "double-submit-recorded-once")

    # The second batch is recalled while the member is at the desk.
    look_up(page, member.code)
    assert remaining_for(page, "Heroin") == "9.500 g"
    testing_services.batch_recall(batch=second, by=dana, reason="Public drug alert: nitazene found in a sibling lot")
    page.locator(f"#desk-batch-{second.pk}").check()
    page.locator("#id_grams").fill("2")
    with page.expect_navigation():
        page.locator("#desk-confirm").click()
    page.wait_for_selector("#desk-batch-errors")
    refusal = page.locator("#desk-batch-errors").inner_text()
    assert "recalled" in refusal.lower()
    assert page.locator("#desk-record").is_visible()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, batch=second).count() == 0
    shots(page, "recalled-batch-refused")

    # The member checks the public status page on their own phone.
    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
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


def test_the_desk_works_without_javascript(page_without_js, live_server, shots, alice, pat, member, heroin, group_a):
    page = page_without_js
    batch = released_stock(group_a, heroin, pat, code="H-2025-010", days=60)

    admin_login(page, live_server, "alice")
    look_up(page, member.code)
    # With a single batch on offer it is already chosen and the grams have the focus.
    assert page.locator(f"#desk-batch-{batch.pk}").is_checked()
    assert page.evaluate("document.activeElement.id") == "id_grams"
    page.locator("#id_grams").fill("2.25")
    shots(page, "no-js-member-shown")
    with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
        page.locator("#desk-confirm").click()
    assert "Recorded 2.250 g of Heroin" in page.locator("ul.messagelist").inner_text()
    shots(page, "no-js-recorded")

    page.get_by_label("Undo it").select_option("Wrong grams")
    with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
        page.get_by_role("button", name="Undo").click()
    assert "Undone" in page.locator("#desk-last").inner_text()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVERSAL, reason="wrong_grams").count() == 1
    shots(page, "no-js-undone")
