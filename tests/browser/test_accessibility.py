"""WCAG 2.1 AA as axe-core (the npm package, injected into each page) checks it: no serious or
critical violation on the status page (form, wrong PIN, a member's page in French), the desk
(empty and serving a member with three substances), the dashboard and the check form, at
1280×800, 768×1024 and 360×740, with no Content-Security-Policy violation on the way."""

from __future__ import annotations

import pytest
from django.conf import settings

from members.codes import format_code
from tests import factories as f
from tests.browser.conftest import admin_login, axe_violations
from tests.browser.test_desk_browser import PIN, released_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = [(1280, 800), (768, 1024), (360, 740)]


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


@pytest.fixture
def three_substances(group_a, pat):
    return [released_stock(group_a, f.SubstanceFactory(name=name, name_fr=name_fr), pat, code=f"{name[:3].upper()}-1", days=60)
            for name, name_fr in (("Heroin", "Héroïne"), ("Cocaine", "Cocaïne"), ("Methamphetamine", "Méthamphétamine"))]


def check(page, axe_source, shots, name: str) -> list[str]:
    problems = []
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        found = axe_violations(page, axe_source)
        if found:
            shots(page, f"{name}-{width}x{height}")
        problems += [f"{name} at {width}x{height}: {v}" for v in found]
    return problems


def test_the_status_page_has_no_serious_accessibility_violation(page, live_server, axe_source, shots, member, three_substances):
    problems = []
    page.goto(f"{live_server.url}/status/")
    problems += check(page, axe_source, shots, "status-form")
    page.get_by_label("Member code").fill(format_code(member.code))
    page.get_by_label("PIN").fill("730194")
    with page.expect_navigation():
        page.get_by_label("PIN").press("Enter")
    problems += check(page, axe_source, shots, "status-wrong-pin")
    page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "fr", "url": live_server.url}])
    page.goto(f"{live_server.url}/status/")
    page.locator("#id_code").fill(format_code(member.code))
    page.locator("#id_pin").fill(PIN)
    with page.expect_navigation():
        page.locator("#id_pin").press("Enter")
    assert page.locator("html").get_attribute("lang") == "fr"
    problems += check(page, axe_source, shots, "status-member-fr")
    assert problems == []


def test_the_desk_and_the_dashboard_have_no_serious_accessibility_violation(
    page, live_server, axe_source, shots, alice, member, three_substances
):
    problems = []
    admin_login(page, live_server, "alice")
    problems += check(page, axe_source, shots, "desk-empty")
    page.get_by_label("Member code").fill(member.code)
    with page.expect_navigation():
        page.get_by_label("Member code").press("Enter")
    page.wait_for_selector("#desk-record")
    problems += check(page, axe_source, shots, "desk-member")
    page.goto(f"{live_server.url}/admin/")
    problems += check(page, axe_source, shots, "dashboard-coordinator")
    assert problems == []


def test_the_dashboard_and_the_check_form_have_no_serious_accessibility_violation(
    page, live_server, axe_source, shots, charlie, erin, three_substances
):
    problems = []
    waiting = f.BatchFactory(substance=three_substances[0].substance, code="HER-WAITING")
    admin_login(page, live_server, "charlie", next_url="/admin/")
    problems += check(page, axe_source, shots, "dashboard-auditor")
    page.context.clear_cookies()
    check_url = f"/admin/testing_results/batch/{waiting.pk}/check/"
    admin_login(page, live_server, "erin", next_url=check_url)
    problems += check(page, axe_source, shots, "check-form")
    assert problems == []
