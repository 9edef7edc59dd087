"""Custody under real concurrency: on PostgreSQL the manifest's row lock decides, on SQLite the
IMMEDIATE transaction mode serialises the writers (in a child process on a file database)."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.distributions import custody_race

pytestmark = pytest.mark.concurrency

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL; SQLite runs below"
)


def check_two_receivers(outcome):
    # One receiver wins; the other is told it was received; one weight, never both, is stored.
    assert outcome["outcomes"] == {"ok": 1, "refused:already_received": 1}, outcome
    assert outcome["status"] == "received" and outcome["received"] == 1
    assert outcome["receive_entries"] == 1
    if outcome["grams_received"] == "25.000":
        assert outcome["difference_entries"] == 0 and outcome["store_grams"] == "25.000"
    else:
        assert outcome["grams_received"] == "24.000", outcome
        assert outcome["difference_entries"] == 1 and outcome["store_grams"] == "24.000"
    assert outcome["ledger_ok"], outcome["ledger_summary"]


def check_count_while_distributing(outcome):
    # Eight desks hand out 1 g each while a count of 15.500 g is signed against 20 g: all nine
    # succeed (15.5 g covers the eight whatever the order), and no gram appears or vanishes.
    assert outcome["outcomes"] == {"ok": 9}, outcome
    before, after = outcome["before"], outcome["after"]
    assert before + after == 8, outcome
    ledger = Decimal(20) - before
    assert Decimal(outcome["ledger_grams"]) == ledger, outcome
    assert Decimal(outcome["adjustment_grams"]) == abs(ledger - Decimal("15.500")), outcome
    assert Decimal(outcome["store_grams"]) == Decimal("15.500") - after, outcome
    assert outcome["ledger_ok"], outcome["ledger_summary"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_a_count_signed_while_distributions_run_loses_or_creates_no_gram():
    check_count_while_distributing(custody_race.count_while_distributing())


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_two_receivers_of_one_manifest_one_wins():
    check_two_receivers(custody_race.two_receivers_one_manifest())


def test_sqlite_file_database_custody_races_are_safe(tmp_path: Path, migrated_sqlite):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME"}}
    env.update({"SQLITE_PATH": str(migrated_sqlite(tmp_path / "race.sqlite3")), "DJANGO_SETTINGS_MODULE": "compassionclub.settings"})
    result = subprocess.run(
        [sys.executable, "-m", "tests.distributions.custody_race"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout)
    check_two_receivers(outcomes["two_receivers_one_manifest"])
    check_count_while_distributing(outcomes["count_while_distributing"])
