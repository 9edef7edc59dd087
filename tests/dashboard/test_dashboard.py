"""The admin index as a dashboard: stock, waiting and held batches, and the server-drawn chart."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from distributions.dashboard import _nice_ceiling, week_starts, weekly_chart
from tests.exports.conftest import distribute


def dashboard(client, user) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start:html.index("</div>", start)]


@pytest.mark.django_db
def test_an_auditor_sees_stock_waiting_and_held_batches_and_the_chart(client, world, charlie):
    html = dashboard(client, charlie)
    stock = section(html, "dashboard-stock")
    # Central heroin: HER 200 - 1 reference sample - 0.017 sampled - 120 transferred - 1 destroyed
    # = 77.983 released, plus the quarantined batch's 50 - 1 - 0.005. VANDU 80 - 21; SOLID 40 - 4;
    # cocaine recalled. Reference samples are not store stock.
    for store, substance, on_hand, released in [
        ("Central store", "Heroin", "126.978", "77.983"), ("VANDU", "Heroin", "59.000", "59.000"),
        ("SOLID", "Heroin", "36.000", "36.000"), ("VANDU", "Cocaine", "28.000", "0.000"),
        ("Central store", "Cocaine", "68.983", "0.000"),
    ]:
        assert f"<td>{store}</td><td>{substance}</td><td>{on_hand}</td><td>{released}</td>" in stock, (store, substance)
    waiting = section(html, "dashboard-waiting")
    assert world.waiting.code in waiting and "checks: Mass spectrometry, Immunoassay test strip" in waiting
    held = section(html, "dashboard-held")
    assert world.coc.code in held and "Recalled" in held and "Bromazolam found by a partner lab." in held
    assert world.her.code not in held
    chart = section(html, "dashboard-chart")
    assert "<svg" in chart and "<rect" in chart
    assert "Heroin, week of" in chart and "25.000 g" in chart  # this week's heroin, net of the reversal
    assert "Cocaine" in chart


@pytest.mark.django_db
def test_the_dashboard_needs_no_script_no_style_attribute_and_nothing_from_elsewhere(client, world, charlie):
    html = dashboard(client, charlie)
    start, end = html.index('id="dashboard"'), html.index("</svg>")
    ours = html[start:end]
    assert "style=" not in ours and "<script" not in ours
    assert re.findall(r'(?:href|src)="https?://', ours) == []


@pytest.mark.django_db
def test_a_coordinator_sees_only_their_groups_stock_and_distributions(client, world, bob):
    html = dashboard(client, bob)
    stock = section(html, "dashboard-stock")
    assert "SOLID" in stock and "VANDU" not in stock and "Central store" not in stock
    chart = section(html, "dashboard-chart")
    assert "4.000 g" in chart and "25.000 g" not in chart and "Cocaine" not in chart


@pytest.mark.django_db
def test_a_drug_checker_sees_batches_but_no_stock(client, world, erin):
    html = dashboard(client, erin)
    assert 'id="dashboard-waiting"' in html and 'id="dashboard-stock"' not in html and 'id="dashboard-chart"' not in html


@pytest.mark.django_db
def test_the_dashboard_costs_the_same_queries_as_rows_grow(client, world, charlie, alice, django_assert_num_queries):
    client.force_login(charlie)
    client.get(reverse("admin:index"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        client.get(reverse("admin:index"))
    for member in world.vandu_members[1:]:
        distribute(member, world.her, "3.5", alice)
    # Queries: session, user, the user's permissions (2), stock (1), waiting batches (1), held
    # batches with their last reason (1), weekly grams (1), recent actions, session save;
    # whatever their exact number on a backend, the same after the ledger grows.
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(reverse("admin:index"))


def test_the_chart_scales_bars_to_a_round_ceiling():
    assert _nice_ceiling(Decimal("21")) == Decimal("50")
    assert _nice_ceiling(Decimal("100")) == Decimal("100")
    assert _nice_ceiling(Decimal("0.4")) == Decimal("0.5")
    weeks = week_starts(dt.date(2026, 3, 12), weeks=2)
    assert weeks == [dt.date(2026, 3, 2), dt.date(2026, 3, 9)]
    chart = weekly_chart(weeks, {"Heroin": {weeks[1]: Decimal("25")}, "Cocaine": {weeks[0]: Decimal("12.5")}})
    heights = {bar.label: bar.height for bar in chart["bars"]}
    assert heights["Heroin, week of 2026-03-09: 25 g"] == pytest.approx(2 * heights["Cocaine, week of 2026-03-02: 12.5 g"], abs=0.2)
    assert heights["Heroin, week of 2026-03-02: 0.000 g"] == 0
    assert [t.label for t in chart["ticks"]] == ["0", "12.5", "25", "37.5", "50"]


@pytest.mark.django_db
def test_the_dashboard_links_the_desk_only_for_those_who_may_record(client, world, alice, charlie):
    desk = reverse("admin:distributions_desk")
    assert f'href="{desk}"' in dashboard(client, alice)
    assert f'href="{desk}"' not in dashboard(client, charlie)


@pytest.mark.django_db
def test_the_chart_says_how_many_grams_went_out_as_replacements_beside_its_bars(client, alice, pat, dana, group_a):
    """The bars are what members took against their allowance; a replacement for recalled
    grams is not demand, so it is not a bar, but the chart says it is there, and how much."""
    from distributions import services as ledger
    from distributions.recalls.replacements import replacement_record
    from testing_results import services as testing
    from tests.distributions.ledger_helpers import batch_at_group, key, member_in

    html = dashboard(client, alice)
    assert "No distribution or replacement in the last 12 weeks" in section(html, "dashboard-chart")
    bad = batch_at_group(group_a, pat, grams="10.000")
    member = member_in(group_a)
    handout = ledger.distribution_record(member=member, batch=bad, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    testing.batch_recall(batch=bad, by=dana, reason="Fentanyl found.")
    good = batch_at_group(group_a, pat, grams="20.000", substance=bad.substance)
    replacement = replacement_record(distribution=handout, batch=good, grams=Decimal("2.500"), by=alice, idempotency_key=key())

    chart = section(dashboard(client, alice), "dashboard-chart")
    assert "Not in the bars: 2.500 g handed out as replacements" in chart
    assert "week of" in chart and ": 3.000 g</title>" in chart and ": 5.500 g" not in chart
    assert "<td>2.500</td>" in chart  # the week's replacements column
    ledger.entry_reverse(entry=replacement, reason="wrong_grams", by=alice)
    assert "No replacement for recalled grams" in section(dashboard(client, alice), "dashboard-chart")


@pytest.mark.django_db
def test_a_batch_with_a_harmful_compound_found_waits_for_rejection_not_a_release(client, world, charlie, erin, dana):
    from testing_results import services as testing
    from tests.builders import finding, record_checks

    ms = record_checks(batch=world.waiting, method="mass_spec", by=erin, lab="Lab",
                       findings=[finding(world.vocab["heroin"], "detected", "60"), finding(world.vocab["fentanyl"], "detected", "1.2")])
    row = section(dashboard(client, charlie), "dashboard-waiting")
    assert "rejection: fentanyl found" in row and "<td>a release decision</td>" not in row
    testing.check_invalidate(drug_check=ms[0], reason="transcription_error", by=dana)
    row = section(dashboard(client, charlie), "dashboard-waiting")  # an invalidated check counts for nothing
    assert "rejection" not in row and "checks: Mass spectrometry, Immunoassay test strip" in row
