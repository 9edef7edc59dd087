"""``manage.py bench_seed`` and ``manage.py bench`` end to end at a tiny scale, as separate
processes on a database of their own (a fresh SQLite file, or this run's PostgreSQL test
database), so that the command cannot silently rot. Timings are not asserted: the numbers
belong to the benchmark, not to the test suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from bench.measure import _child_env

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, MANAGE, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def bench_env(tmp_path, migrated_sqlite):
    """Environment variables that point a child process at an empty, migrated database of its
    own: a SQLite file (a copy of one freshly migrated, ``migrated_sqlite``), or on PostgreSQL a
    database beside this run's test database (the test database is emptied by transactional
    tests' flushes, which also take the rows the migrations seed, so it is not what a migrated
    database holds)."""
    if connection.vendor != "postgresql":
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env["SQLITE_PATH"] = str(migrated_sqlite(tmp_path / "bench.sqlite3"))
        yield env
        return
    env = _child_env()
    name = f"{connection.settings_dict['NAME']}_bench"
    server = env["DATABASE_URL"].rsplit("/", 1)[0]
    _admin_sql(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = f"{server}/{name}"
    try:
        done = manage(env, "migrate", "--no-input", "-v0")
        assert done.returncode == 0, done.stderr
        yield env
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_sql(*statements: str) -> None:
    """Run statements outside a transaction on the server's maintenance database."""
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s.get("HOST") or "localhost", port=s.get("PORT") or 5432, user=s.get("USER") or None,
        password=s.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    ) as admin:
        for statement in statements:
            admin.execute(statement)


@pytest.mark.slow
@pytest.mark.concurrency
def test_seed_then_bench_prints_the_table_writes_json_and_verifies_the_ledger(bench_env, tmp_path):
    env = bench_env | {"DJANGO_ENV": "development"}
    seeded = manage(env, "bench_seed", "--scale", "0.001", "--seed", "3")
    assert seeded.returncode == 0, seeded.stderr
    assert "Seeded scale 0.001: 8 groups, 80 members, 12 batches" in seeded.stdout

    out = tmp_path / "bench.json"
    ran = manage(env, "bench", "--seconds", "0.3", "--workers", "1,2", "--samples", "5", "--repeat", "1",
                 "--export-days", "30", "--json", str(out), "--workdir", str(tmp_path / "exports"))
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "distribution_record, 2 workers" in ran.stdout
    assert "our SQL replayed, rolled back, 2 workers" in ran.stdout
    assert "ledger verified" in ran.stdout.splitlines()[-1]

    results = json.loads(out.read_text())["results"]
    runs = {r["workers"]: r for r in results["throughput"]["runs"]}
    assert set(runs) == {1, 2}
    for run in runs.values():
        assert run["baseline"]["ok"] > 0 and run["ours"]["ok"] > 0
        assert run["baseline"]["refusals"] == {} and run["ours"]["refusals"] == {}
        # One real call's statements, replayed without Django, and the baseline, both rolled back.
        assert run["replay"]["ok"] > 0 and run["baseline_rolled_back"]["ok"] > 0
        assert run["replay"]["refusals"] == {} and run["baseline_rolled_back"]["refusals"] == {}
        assert run["replay"]["statements"] > 0 and "replay_ratio" in run
    probe = results["overdraw_probe"]
    assert probe["ok"] and probe["succeeded"] == 200 and probe["balance_after"] == "0.000"
    assert results["eligibility"]["queries_min"] == results["eligibility"]["queries_max"]
    assert {(p["page"], p["as"]) for p in results["pages"]} == {
        (page, who) for page in ("ledger entries", "members", "batches", "desk lookup") for who in ("coordinator", "superuser")
    }
    exports = results["exports"]
    # At this scale the busiest group may have nothing in the period: the export ran, and timed itself.
    assert exports["ledger_csv"]["rows"] > 0 and exports["ledger_csv_group"]["seconds"] >= 0
    assert exports["batch_reports_csv"]["rows"] > 0
    assert results["exports"]["batch_pdf"]["bytes"] > 1000
    # Every distribution the run added is in a chain that still verifies, balances included.
    assert results["verify"]["ok"] and results["verify"]["entries"] > 2000


def test_bench_refuses_a_database_that_was_not_seeded_for_it(db):
    with pytest.raises(CommandError):
        call_command("bench", "--only", "verify")
