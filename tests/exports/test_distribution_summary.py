"""Distribution summary: cells against the ledger, small counts suppressed, coordinators scoped."""

from __future__ import annotations

import pytest
from django.utils import timezone

from distributions.exports.summary import SMALL, SUPPRESSED, suppress
from tests.exports.helpers import run_csv


def cells(rows):
    return {(r["group"], r["substance"]): (r["distributions"], r["grams"], r["members"]) for r in rows}


@pytest.mark.django_db
def test_the_cells_count_distributions_grams_and_members_without_reversed_ones(world, charlie):
    rows = run_csv("distribution_summary", charlie)
    # VANDU heroin: 7 handed out, one reversed; SOLID heroin and VANDU cocaine: 2 members each.
    assert cells(rows) == {
        ("VANDU", "Heroin"): ("6", "21.000", "6"),
        ("VANDU", "Cocaine"): (SMALL, SUPPRESSED, SMALL),
        ("SOLID", "Heroin"): (SMALL, SUPPRESSED, SMALL),
    }
    today = timezone.localdate()
    monday = today - timezone.timedelta(days=today.weekday())
    assert {r["period_start"] for r in rows} == {monday.isoformat()}
    assert {r["period_end"] for r in rows} == {(monday + timezone.timedelta(days=6)).isoformat()}
    # No totals: a suppressed cell cannot be recovered by subtraction.
    assert len(rows) == 3


@pytest.mark.django_db
def test_months_start_on_the_first_and_end_on_the_last_day(world, charlie):
    rows = run_csv("distribution_summary", charlie, period="month")
    today = timezone.localdate()
    assert {r["period_start"] for r in rows} == {today.replace(day=1).isoformat()}
    assert all(r["period"] == "month" and r["period_end"] > r["period_start"] for r in rows)


@pytest.mark.django_db
def test_a_coordinator_gets_only_their_groups_cells(world, alice, bob):
    assert {r["group"] for r in run_csv("distribution_summary", bob)} == {"SOLID"}
    assert {r["group"] for r in run_csv("distribution_summary", alice)} == {"VANDU"}


def test_a_cell_of_few_people_is_suppressed_whole_even_with_many_distributions():
    assert suppress(12, "40.000", 3) == (SUPPRESSED, SUPPRESSED, SMALL)
    assert suppress(4, "8.000", 4) == (SMALL, SUPPRESSED, SMALL)
    assert suppress(5, "8.000", 5) == (5, "8.000", 5)
