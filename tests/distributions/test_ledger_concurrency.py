"""Real threads racing for the same stock, allowance and key, on PostgreSQL and on SQLite.

On PostgreSQL the row locks decide; on SQLite the IMMEDIATE transaction mode serialises the
writers. SQLite runs in a child process against a fresh file database, because the suite's
SQLite test database lives in memory, where threads cannot race.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.distributions import race

pytestmark = pytest.mark.concurrency

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks under real concurrency need PostgreSQL; SQLite runs below"
)


def check_many_members(outcome):
    # 20 members, 10 g in store, 1 g each: exactly ten are served, the rest are told why.
    assert outcome["outcomes"] == {"ok": 10, "refused:insufficient_stock": race.THREADS + 4 - 10}, outcome
    assert outcome["distributions"] == 10
    assert outcome["store_grams"] == "0.000"
    assert outcome["ledger_ok"], outcome["ledger_summary"]


def check_one_member(outcome):
    # 14 g a week, 1 g at each of 16 desks at once: fourteen are served, never fifteen.
    assert outcome["outcomes"] == {"ok": 14, "refused:over_allowance": race.THREADS - 14}, outcome
    assert outcome["store_grams"] == "86.000"
    assert outcome["ledger_ok"], outcome["ledger_summary"]


def check_one_key(outcome):
    # Sixteen retries of one request: one entry, and every retry is answered with it.
    assert outcome["outcomes"] == {"ok": race.THREADS}, outcome
    assert len(outcome["entry_ids"]) == 1
    assert outcome["distributions"] == 1
    assert outcome["store_grams"] == "98.000"
    assert outcome["ledger_ok"], outcome["ledger_summary"]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_threads_racing_for_one_store_never_overdraw_it():
    check_many_members(race.many_members_one_store())


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_threads_racing_for_one_members_allowance_never_exceed_it():
    check_one_member(race.one_member_many_desks())


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_threads_retrying_one_key_write_one_entry():
    check_one_key(race.one_key_many_retries())


def test_sqlite_file_database_threads_race_safely(tmp_path: Path, migrated_sqlite):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME"}}
    env.update({"SQLITE_PATH": str(migrated_sqlite(tmp_path / "race.sqlite3")), "DJANGO_SETTINGS_MODULE": "compassionclub.settings"})
    result = subprocess.run(
        [sys.executable, "-m", "tests.distributions.race"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout)
    check_many_members(outcomes["many_members_one_store"])
    check_one_member(outcomes["one_member_many_desks"])
    check_one_key(outcomes["one_key_many_retries"])

