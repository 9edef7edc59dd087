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


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_postgres_a_reference_destruction_waits_for_stock_put_back_and_refuses(monkeypatch):
    """An adjustment puts grams back in the central store of a batch with none left; while it
    holds the balance row, the reference sample's destruction starts. It waits for the row, sees
    the stock and refuses: the batch is no longer finished."""
    import threading
    import time
    import uuid

    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from compassionclub.errors import ServiceError
    from distributions import services
    from distributions.models import Account, LedgerEntry
    from distributions.services import _ledger_sql
    from distributions.services.ledger import system_account
    from testing_results import services as testing
    from tests import factories as f
    from tests.factories import PASSWORD

    User = get_user_model()
    tag = uuid.uuid4().hex[:6]
    admin, witness = (User.objects.create(username=f"{n}-{tag}", is_staff=True, is_superuser=True,
                                          password=make_password(PASSWORD)) for n in ("admin", "witness"))
    batch = testing.batch_receive(substance=f.SubstanceFactory(name=f"Heroin {tag}"), grams=Decimal("3"),
                                  received_on=timezone.localdate(), by=admin)
    central, reference = system_account(Account.Kind.CENTRAL), system_account(Account.Kind.REFERENCE)
    services.destruction_witnessed(batch=batch, store=central, grams=Decimal("2"), reason="damaged", method="incineration",
                                   by=admin, witness=witness, witness_password=PASSWORD)
    locked, results = threading.Event(), {}
    lock_internal = _ledger_sql.lock_internal

    def holding(batch_id, accounts):
        rows = lock_internal(batch_id, accounts)
        if threading.current_thread().name == "adjust":
            locked.set()
            time.sleep(1.0)  # the destruction starts meanwhile and must wait for this row
        return rows

    monkeypatch.setattr(_ledger_sql, "lock_internal", holding)

    def run(name, fn):
        try:
            results[name] = ("ok", fn())
        except ServiceError as error:
            results[name] = ("refused", error.code)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[name] = ("error", repr(error))
        finally:
            connection.close()

    adjust = threading.Thread(name="adjust", target=run, args=("adjust", lambda: services.stock_adjust(
        batch=batch, grams=Decimal("0.5"), reason="found", by=admin)))
    destroy = threading.Thread(name="destroy", target=run, args=("destroy", lambda: services.destruction_witnessed(
        batch=batch, store=reference, grams=Decimal("1"), reason=LedgerEntry.DestructionReason.REFERENCE_FINISHED,
        method="incineration", by=admin, witness=witness, witness_password=PASSWORD)))
    adjust.start()
    assert locked.wait(timeout=30)
    destroy.start()
    adjust.join(timeout=60)
    destroy.join(timeout=60)
    assert results["adjust"][0] == "ok", results
    assert results["destroy"] == ("refused", "reference_batch_not_finished"), results
    assert not LedgerEntry.objects.filter(batch=batch, from_account=reference, kind=LedgerEntry.Kind.DESTRUCTION).exists()
