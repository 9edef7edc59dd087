"""A recall, end to end in Debian's Chromium, with screenshots of every step.

The release officer recalls a batch a member received; the coordinator's dashboard shows the
notice in red; the desk warns when the member comes in; the coordinator records that the member
was told and hands out a replacement; the member's status page shows the recall and an
allowance the replacement did not change; the coordinator acknowledges the notice; the release
officer sees the group acknowledged and the stock still out.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from distributions import services
from distributions.models import LedgerEntry
from testing_results.models import Batch
from tests import factories as f
from tests.browser.conftest import admin_login
from tests.builders import transfer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PIN = "482915"  # tests.factories.MemberFactory's


def stock(group, substance, by, code: str) -> Batch:
    batch = f.BatchFactory(
        code=code, substance=substance, status=Batch.Status.RELEASED,
        best_before=timezone.localdate() + dt.timedelta(days=90),
        label_text=f"{substance.name} {code}: drug-checked, no fentanyl or benzodiazepines detected.",
    )
    services.intake_record(batch=batch, by=by)
    transfer(batch=batch, to_group=group, grams=Decimal("50.000"), by=by)
    return batch


def look_up(page, code: str) -> None:
    field = page.get_by_label("Member code")
    field.fill(code)
    with page.expect_navigation():
        field.press("Enter")
    page.wait_for_selector("#desk-member-title")


def test_a_recall_reaches_the_coordinator_the_desk_and_the_member(
    page, chromium, live_server, shots, alice, dana, pat, group_a
):
    heroin = f.SubstanceFactory(name="Heroin")
    member = f.MemberFactory(group=group_a, created_by=alice)
    bad = stock(group_a, heroin, pat, "H-2025-101")
    good = stock(group_a, heroin, pat, "H-2025-102")
    services.distribution_record(member=member, batch=bad, grams=Decimal("3.000"), by=alice, idempotency_key="first")

    # The release officer recalls the batch from its page.
    admin_login(page, live_server, "dana", next_url=f"/admin/testing_results/batch/{bad.pk}/change/")
    page.goto(f"{live_server.url}/admin/testing_results/batch/{bad.pk}/recall/")
    page.locator("textarea, input[name=reason]").first.fill("Fentanyl found by a new mass spectrometry check.")
    with page.expect_navigation():
        page.locator("input[type=submit], button[type=submit]").last.click()
    shots(page, "officer-recalled")
    assert Batch.objects.get(pk=bad.pk).status == Batch.Status.RECALLED
    page.context.clear_cookies()

    # The coordinator's dashboard shows the notice, in red, at the top.
    admin_login(page, live_server, "alice", next_url="/admin/")
    notice = page.locator("#recall-notices")
    assert notice.is_visible() and "H-2025-101" in notice.inner_text()
    shots(page, "coordinator-dashboard-notice")

    # The desk warns when the member comes in.
    page.goto(f"{live_server.url}/admin/desk/")
    look_up(page, member.display_code)
    warning = page.locator("#desk-recall-warning")
    assert "Recalled: batch H-2025-101" in warning.inner_text() and "3.000 g received" in warning.inner_text()
    remaining = page.locator('#desk-allowances tr[data-substance="Heroin"] .desk-remaining').inner_text()
    assert remaining == "11.000 g"
    shots(page, "desk-warning")
    with page.expect_navigation():
        warning.get_by_role("button", name="Member told").click()
    assert "was told about batch H-2025-101" in page.locator(".messagelist").inner_text()

    # The replacement, from the released batch, not counted against the allowance.
    look_up(page, member.display_code)
    assert "Told at the desk" in page.locator("#desk-recall-warning").inner_text()
    with page.expect_navigation():
        page.locator("#desk-replace").get_by_role("button", name="Hand out replacement").click()
    assert "Replacement recorded: 3.000 g of batch H-2025-102" in page.locator(".messagelist").inner_text()
    shots(page, "replacement-recorded")
    page.reload()  # reloading the page after the POST records nothing more
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT, batch=good).count() == 1

    # The member's status page: the recall, and the allowance as it was.
    status = page.context.new_page()
    status.goto(f"{live_server.url}/status/")
    status.get_by_label("Member code").fill(member.display_code)
    status.get_by_label("PIN").fill(PIN)
    with status.expect_navigation():
        status.keyboard.press("Enter")
    body = status.locator("body").inner_text()
    assert "H-2025-101" in body and "11 g left of 14 g" in body.replace("\xa0", " ")
    shots(status, "member-status")
    status.close()

    # The coordinator acknowledges the notice.
    page.goto(f"{live_server.url}/admin/")
    with page.expect_navigation():
        page.locator("#recall-notices a").first.click()
    assert "1 of them has been told" in page.locator("#recall-members").inner_text()
    with page.expect_navigation():
        page.locator("#recall-acknowledge").click()
    assert "Acknowledged by alice" in page.locator("#recall-ack").inner_text()
    shots(page, "acknowledged")
    page.context.clear_cookies()

    # The release officer sees the group acknowledged and the stock still out.
    admin_login(page, live_server, "dana", next_url="/admin/")
    recalls = page.locator("#dashboard-recalls").inner_text()
    assert "H-2025-101" in recalls and "VANDU: 47.000 g" in recalls
    page.goto(f"{live_server.url}/admin/testing_results/batch/{bad.pk}/change/")
    body = page.locator("body").inner_text()
    assert "by alice" in body and member.display_code not in body
    shots(page, "officer-batch-page")
