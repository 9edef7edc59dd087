"""The everyday flows in Debian's Chromium, as a coordinator and a member use them.

A lost card replaced at the desk (the old code refused on /status/ and at the desk, the new one
working, the history carried over); the renewals worklist (due, renewed, gone, a reload renews
nothing more); a three-substance visit at a laptop, a tablet and a phone (nothing cut off or
overlapping, Confirm reachable, no serious accessibility violation); the status page switched to
French for a member with a recall (no English sentence of the page's own left).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from distributions.models import LedgerEntry
from members.codes import format_code
from members.models import Member, RetiredCode
from testing_results.models import Compound
from testing_results.services import batch_recall
from tests import factories as f
from tests.browser.conftest import admin_login, axe_violations
from tests.browser.test_desk_browser import PIN, look_up, released_stock
from tests.builders import Stock
from tests.builders import released_stock as checked_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PIN = "730194"
VIEWPORTS = [(1280, 800), (768, 1024), (360, 740)]


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def status_lookup(page, live_server, code: str, pin: str) -> str:
    page.goto(f"{live_server.url}/status/")
    page.locator("#id_code").fill(code)
    page.locator("#id_pin").fill(pin)
    with page.expect_navigation():
        page.locator("#id_pin").press("Enter")
    return page.locator("main").inner_text()


@pytest.mark.slow
def test_a_lost_card_is_replaced_and_only_the_new_code_works(
    page, chromium, live_server, shots, alice, member, heroin, group_a, pat
):
    released_stock(group_a, heroin, pat, code="H-2026-001", days=60)
    look_up_url = f"{live_server.url}/admin/desk/"
    old = member.code
    admin_login(page, live_server, "alice")

    # A first visit on the old card.
    look_up(page, format_code(old).lower())
    page.locator(f"#desk-grams-{heroin.pk}").fill("2")
    with page.expect_navigation(url=look_up_url):
        page.locator("#desk-confirm").click()
    assert "Recorded 2.000 g of Heroin" in page.locator("ul.messagelist").inner_text()

    # The member lost the card: the coordinator issues a new one from the member's page.
    page.goto(f"{live_server.url}/admin/members/member/{member.pk}/change/")
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile("New card")).click()
    page.get_by_label("Why a new card").select_option("lost")
    page.locator("#id_pin").fill(NEW_PIN)
    page.locator("#id_pin_again").fill(NEW_PIN)
    with page.expect_navigation():
        page.get_by_role("button", name="Issue the new card").click()
    member.refresh_from_db()
    new = member.code
    assert new != old
    body = page.locator("body").inner_text()
    assert format_code(new) in body and f"The old code {format_code(old)} no longer works" in body
    shots(page, "new-card")
    page.reload()  # the card page is a GET: a reload issues nothing more
    assert RetiredCode.objects.filter(member=member).count() == 1
    assert AuditRecord.objects.filter(action="member.card_reissued").count() == 1

    # At the desk the old code is refused with a clear message; the new one shows the history.
    page.goto(look_up_url)
    field = page.get_by_label("Member code")
    field.fill(format_code(old).lower().replace("-", ""))
    with page.expect_navigation():
        field.press("Enter")
    refusal = page.locator("#desk-code-errors").inner_text()
    assert "card was replaced" in refusal and "no longer" in refusal, refusal
    assert page.locator("#desk-member-title").count() == 0
    shots(page, "old-code-refused-at-desk")
    look_up(page, format_code(new).lower())
    assert page.locator('#desk-allowances tr[data-substance="Heroin"] .desk-remaining').inner_text() == "12.000 g"
    shots(page, "new-code-at-desk")
    page.goto(f"{live_server.url}/admin/members/member/{member.pk}/change/")
    assert "H-2026-001" in page.locator("#member-visits").inner_text()

    # The status page: the old card gets the unknown-code answer, the new one the same allowance.
    phone = chromium.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        status = phone.new_page()
        refused = status_lookup(status, live_server, format_code(old), PIN)
        assert "do not match" in refused and "left of" not in refused
        refused = status_lookup(status, live_server, format_code(old), NEW_PIN)
        assert "do not match" in refused and "left of" not in refused
        shots(status, "old-code-refused-on-status")
        shown = status_lookup(status, live_server, format_code(new).lower().replace("-", ""), NEW_PIN)
        assert re.search(r"12 g left of 14 g", shown.replace("\xa0", " ")), shown
        shots(status, "new-code-on-status")
    finally:
        phone.close()
    assert LedgerEntry.objects.filter(member=member, kind=LedgerEntry.Kind.DISTRIBUTION).count() == 1


def test_a_member_due_for_renewal_is_renewed_from_the_worklist_once(page, live_server, shots, alice, group_a):
    today = timezone.localdate()
    due = f.MemberFactory(group=group_a, created_by=alice, renewal_due=today + dt.timedelta(days=5))
    overdue = f.MemberFactory(group=group_a, created_by=alice, renewal_due=today - dt.timedelta(days=3))
    later = f.MemberFactory(group=group_a, created_by=alice, renewal_due=today + dt.timedelta(days=200))
    url = f"{live_server.url}/admin/members/member/renewals/"

    admin_login(page, live_server, "alice", next_url="/admin/")
    with page.expect_navigation(url=url):
        page.get_by_role("link", name=re.compile("Renewals")).first.click()
    rows = page.locator("#renewals tbody tr")
    assert [rows.nth(i).get_attribute("id") for i in range(rows.count())] == [f"renewal-{overdue.pk}", f"renewal-{due.pk}"]
    assert "overdue by 3 days" in page.locator(f"#renewal-{overdue.pk}").inner_text()
    assert page.locator(f"#renewal-{later.pk}").count() == 0
    shots(page, "worklist")

    row = page.locator(f"#renewal-{due.pk}")
    row.get_by_label("Says they are 19 or over").check()
    with page.expect_navigation(url=url):
        row.get_by_role("button", name=f"Renew {due.display_code}").click()
    due.refresh_from_db()
    assert due.renewal_due > today + dt.timedelta(days=30)
    assert f"{due.display_code} renewed until {due.renewal_due:%Y-%m-%d}" in page.locator("ul.messagelist").inner_text()
    assert page.locator(f"#renewal-{due.pk}").count() == 0
    assert page.locator(f"#renewal-{overdue.pk}").count() == 1
    shots(page, "renewed-and-gone")

    renewed = AuditRecord.objects.filter(action="member.renewed").count()
    page.reload()
    page.reload()
    assert AuditRecord.objects.filter(action="member.renewed").count() == renewed == 1
    assert Member.objects.get(pk=due.pk).renewal_due == due.renewal_due
    assert "renewed until" not in page.locator("body").inner_text()  # the message was shown once


def overlaps(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] - 0.5 and b["x"] < a["x"] + a["width"] - 0.5
            and a["y"] < b["y"] + b["height"] - 0.5 and b["y"] < a["y"] + a["height"] - 0.5)


def layout_problems(page, width: int) -> list[str]:
    """Controls of the visit form outside the viewport's width, or on top of one another."""
    problems = []
    if page.evaluate("document.documentElement.scrollWidth") > width:
        problems.append(f"page scrolls sideways: {page.evaluate('document.documentElement.scrollWidth')} px")
    controls = page.locator("#desk-record select:visible, #desk-record input:not([type=hidden]):visible, "
                            "#desk-record button:visible, #desk-allowances tbody th:visible, #desk-allowances .desk-remaining:visible")
    boxes = []
    for i in range(controls.count()):
        control = controls.nth(i)
        box = control.bounding_box()
        name = control.get_attribute("id") or control.inner_text()[:20]
        if box is None or box["width"] == 0 or box["height"] == 0:
            problems.append(f"{name} has no size")
            continue
        if box["x"] < 0 or box["x"] + box["width"] > width + 0.5:
            problems.append(f"{name} cut off: x {box['x']:.0f} to {box['x'] + box['width']:.0f}")
        boxes.append((name, box))
    # A batch list too narrow to read its chosen batch: on a tablet or wider its whole text
    # (code, grams in store, best-before date); on a phone at least the code and the grams.
    problems += page.evaluate(
        "whole => [...document.querySelectorAll('#desk-record select')].filter(s => {"
        " const c = document.createElement('canvas').getContext('2d'); c.font = getComputedStyle(s).font;"
        " const text = s.options[s.selectedIndex].text;"
        " const shown = whole ? text : text.split(' · ').slice(0, 2).join(' · ');"
        " return c.measureText(shown).width + 32 > s.clientWidth;"
        " }).map(s => s.id + ' too narrow for its batch')",
        width >= 768,
    )
    for i, (name, box) in enumerate(boxes):
        problems += [f"{name} overlaps {other}" for other, other_box in boxes[i + 1:] if overlaps(box, other_box)]
    return problems


@pytest.mark.slow
def test_a_three_substance_visit_fits_a_laptop_a_tablet_and_a_phone(
    chromium, live_server, axe_source, shots, csp_watch, alice, member, group_a, pat
):
    substances = [f.SubstanceFactory(name=name) for name in ("Heroin", "Cocaine", "Methamphetamine")]
    for substance in substances:
        released_stock(group_a, substance, pat, code=f"{substance.name[:3].upper()}-2026-1", days=60)
    served = 0
    for width, height in VIEWPORTS:
        context = chromium.new_context(viewport={"width": width, "height": height}, has_touch=True,
                                       locale="en-CA", timezone_id="America/Vancouver")
        try:
            page = context.new_page()
            csp_watch.attach(page)
            admin_login(page, live_server, "alice")
            look_up(page, format_code(member.code).lower())
            for substance in substances:
                page.locator(f"#desk-grams-{substance.pk}").fill("0.5")
            shots(page, f"three-lines-{width}x{height}")
            assert layout_problems(page, width) == [], (width, height)
            assert axe_violations(page, axe_source) == [], (width, height)
            confirm = page.locator("#desk-confirm")
            confirm.scroll_into_view_if_needed()
            box = confirm.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (width, height, box)
            assert page.evaluate("(b => { const r = b.getBoundingClientRect(); const e = document.elementFromPoint("
                                 "r.x + r.width / 2, r.y + r.height / 2); return e === b || b.contains(e); })",
                                 confirm.element_handle()), (width, height)
            with page.expect_navigation(url=f"{live_server.url}/admin/desk/"):
                confirm.click()
            served += 3
            message = page.locator("ul.messagelist").inner_text()
            assert "Recorded 0.500 g of Cocaine, 0.500 g of Heroin, 0.500 g of Methamphetamine" in message
            assert layout_problems(page, width) == [], (width, height, "after")
            assert axe_violations(page, axe_source) == [], (width, height, "after")
            page.reload()
            shots(page, f"recorded-{width}x{height}")
            assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count() == served
        finally:
            context.close()
    assert csp_watch.violations == []


def english_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if re.search(r"[A-Za-z]{3,}", line)}


def test_the_status_page_switched_to_french_shows_no_english_for_a_member_with_a_recall(
    page, live_server, shots, member, erin, dana, pat
):
    f.seeded_methods()
    heroin = f.SubstanceFactory(name="Heroin", name_fr="Héroïne")
    Compound.objects.filter(pk=heroin.expected_compound_id).update(name="Diacetylmorphine", name_fr="Diacétylmorphine")
    stock = Stock(checker=erin, officer=dana, admin=pat)
    batch = checked_stock(member.group, heroin, checker=erin, officer=dana, admin=pat)
    stock.hand_out(member, batch, "3.5")
    reason = "Fentanyl found by a partner lab."
    batch_recall(batch=batch, by=dana, reason=reason)

    page.set_viewport_size({"width": 360, "height": 740})
    # What the page says in English, the member's own lines (code, batch code) aside.
    english = status_lookup(page, live_server, format_code(member.code), PIN)
    assert "Recall" in english and batch.code in english
    shots(page, "english")

    # Switched with the page's own language control, then the code and PIN again.
    page.goto(f"{live_server.url}/status/")
    page.locator("#lang-select").select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Change").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    french = status_lookup(page, live_server, format_code(member.code), PIN)
    shots(page, "french")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Rappel" in french or "RAPPEL" in french
    # The officer's reason is free text, shown as written and marked as English for readers.
    assert page.locator(f'[lang="en"]:has-text("{reason}")').count() == 1
    own = page.evaluate(
        "() => { const c = document.body.cloneNode(true);"
        " c.querySelectorAll('[lang=en]').forEach(e => e.remove()); document.body.after(c);"
        " const t = c.innerText; c.remove(); return t; }"
    )
    neutral = {format_code(member.code), batch.code}
    left = {line for line in english_lines(own) & english_lines(english) if line not in neutral}
    assert left == set(), left
    for words in ("You", "left of", "received", "Recall", "Batch", "Renewal", "Do not", "Language", "Change",
                  "Check another", "days", "below", "found"):
        assert not re.search(rf"\b{words}\b", own), (words, own)


def test_member_codes_on_the_renewals_worklist_are_never_split(page, live_server, alice, group_a):
    due = f.MemberFactory(group=group_a, created_by=alice, renewal_due=timezone.localdate() + dt.timedelta(days=5))
    admin_login(page, live_server, "alice", next_url="/admin/members/member/renewals/")
    code = page.locator(f"#renewal-{due.pk} th a")
    assert code.inner_text() == due.display_code
    box = code.bounding_box()
    line = float(page.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20", code.element_handle()))
    assert box["height"] < 1.5 * line, box  # one line
