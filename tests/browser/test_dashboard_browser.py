"""The dashboard in Chromium: its tables use the page's width, not the 600 px column Django's
index page keeps for its list of apps (headers wrapped letter by letter there)."""

from __future__ import annotations

import pytest

from testing_results.models import Batch
from tests import factories as f
from tests.browser.conftest import admin_login
from tests.browser.test_desk_browser import released_stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def programme(group_a, group_b, pat):
    """Stock in two stores, a batch waiting for checks and a recalled one, from factories (a
    transactional test cannot count on the release rule's seeded capabilities being there)."""
    heroin, cocaine = f.SubstanceFactory(name="Heroin"), f.SubstanceFactory(name="Cocaine")
    released_stock(group_a, heroin, pat, code="HER-2026-0001", days=90)
    released_stock(group_b, cocaine, pat, code="COC-2026-0001", days=90)
    f.BatchFactory(substance=heroin, code="HER-2026-0002")
    f.BatchFactory(substance=cocaine, code="COC-2026-0002", status=Batch.Status.RECALLED)


def test_the_dashboard_tables_use_the_page_width_and_headers_stay_on_one_line(page, live_server, shots, programme, charlie):
    page.set_viewport_size({"width": 1280, "height": 800})
    admin_login(page, live_server, "charlie", next_url="/admin/")
    shots(page, "dashboard-1280")
    for table in ("#dashboard-stock table", "#dashboard-waiting table", "#dashboard-held table"):
        assert page.locator(table).bounding_box()["width"] > 700, table
        heights = page.locator(f"{table} thead th").evaluate_all("cells => cells.map(c => c.getBoundingClientRect().height)")
        line = page.locator(f"{table} tbody td").first.evaluate("c => c.getBoundingClientRect().height")
        assert max(heights) <= 1.6 * line, (table, heights, line)
    # "Recent actions" still has its column beside the tables.
    assert page.locator("#recent-actions-module").is_visible()


def test_on_a_tablet_recent_actions_go_under_the_tables_and_a_phone_never_scrolls_sideways(
    page, live_server, shots, programme, charlie
):
    page.set_viewport_size({"width": 768, "height": 1024})
    admin_login(page, live_server, "charlie", next_url="/admin/")
    shots(page, "dashboard-768")
    for table in ("#dashboard-stock table", "#dashboard-waiting table", "#dashboard-held table"):
        # Django's 290 px "Recent actions" column left the tables about 450 px wide here.
        assert page.locator(table).bounding_box()["width"] > 768 - 80, table
    related = page.locator("#content-related").bounding_box()
    assert related["y"] >= page.locator("#dashboard").bounding_box()["y"] + page.locator("#dashboard").bounding_box()["height"]
    # The app list is not covered by the recent actions that moved under it.
    assert related["y"] >= page.locator("#content-main").bounding_box()["y"] + page.locator("#content-main").bounding_box()["height"] - 1

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    page.evaluate("document.querySelectorAll('#dashboard details').forEach(d => d.open = true)")
    shots(page, "dashboard-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
