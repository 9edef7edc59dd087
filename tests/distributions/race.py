"""Races of real threads against a real database, shared by the PostgreSQL tests and the SQLite
file-database run (``python -m tests.distributions.race``, started by the SQLite test).

Each scenario builds its data, lines up its threads on a barrier, lets them all call
``distribution_record`` at once, and returns what happened and what the ledger says after.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections import Counter
from decimal import Decimal

THREADS = 16


def race(n: int, fn) -> list[tuple[str, object]]:
    from django.db import connection

    from compassionclub.errors import ServiceError

    barrier = threading.Barrier(n)
    results: list[tuple[str, object]] = [("error", "did not run")] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", fn(i).pk)
        except ServiceError as error:
            results[i] = ("refused", error.code)
        except Exception as error:  # the test reports it; a thread must not die silently
            results[i] = ("error", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def race_people():
    """A superuser, and a coordinator of a new group, under names no other race uses:
    (admin, coordinator, group)."""
    from django.contrib.auth import get_user_model

    from members.models import MemberGroup

    User = get_user_model()
    suffix = uuid.uuid4().hex[:6]
    admin = User.objects.create(username=f"admin-{suffix}", is_staff=True, is_superuser=True)
    coordinator = User.objects.create(username=f"coord-{suffix}", is_staff=True)
    group = MemberGroup.objects.create(short_name=f"R{suffix}", name=f"Race group {suffix}", region="island")
    group.coordinators.add(coordinator)
    return admin, coordinator, group


def _setup(stock: str):
    from tests.builders import transfer
    from tests.distributions.ledger_helpers import D, batch_in_central

    admin, coordinator, group = race_people()
    batch = batch_in_central(grams="1000", by=admin, created_by=admin)
    transfer(batch=batch, to_group=group, grams=D(stock), by=admin)
    return group, coordinator, batch


def _outcome(results, batch, group) -> dict:
    from distributions.models import LedgerEntry
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import store_grams

    report = verify_ledger()
    return {
        "outcomes": dict(Counter(kind if kind == "ok" else f"{kind}:{detail}" for kind, detail in results)),
        "entry_ids": sorted({detail for kind, detail in results if kind == "ok"}),
        "distributions": LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.DISTRIBUTION).count(),
        "store_grams": str(store_grams(batch, group)),
        "ledger_ok": report.ok,
        "ledger_summary": report.summary(),
    }


def many_members_one_store(n: int = THREADS + 4, stock: str = "10.000") -> dict:
    """``n`` members each ask for 1 g of a store holding ``stock`` g."""
    from distributions import services
    from tests.distributions.ledger_helpers import member_in

    group, coordinator, batch = _setup(stock)
    members = [member_in(group, created_by=coordinator) for _ in range(n)]
    results = race(
        n,
        lambda i: services.distribution_record(
            member=members[i], batch=batch, grams=Decimal("1.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
        ),
    )
    return _outcome(results, batch, group)


def one_member_many_desks(n: int = THREADS) -> dict:
    """One member asks at ``n`` desks at once for 1 g each; the allowance is 14 g a week."""
    from distributions import services
    from tests.distributions.ledger_helpers import member_in

    group, coordinator, batch = _setup("100.000")
    member = member_in(group, created_by=coordinator)
    results = race(
        n,
        lambda i: services.distribution_record(
            member=member, batch=batch, grams=Decimal("1.000"), by=coordinator, idempotency_key=uuid.uuid4().hex
        ),
    )
    return _outcome(results, batch, group)


def one_key_many_retries(n: int = THREADS) -> dict:
    """The same request, with the same key, sent ``n`` times at once."""
    from distributions import services
    from tests.distributions.ledger_helpers import member_in

    group, coordinator, batch = _setup("100.000")
    member = member_in(group, created_by=coordinator)
    key = uuid.uuid4().hex
    results = race(
        n,
        lambda i: services.distribution_record(
            member=member, batch=batch, grams=Decimal("2.000"), by=coordinator, idempotency_key=key
        ),
    )
    return _outcome(results, batch, group)


SCENARIOS = {
    "many_members_one_store": many_members_one_store,
    "one_member_many_desks": one_member_many_desks,
    "one_key_many_retries": one_key_many_retries,
}


def run_scenarios(scenarios: dict) -> None:
    """Migrate a fresh SQLite file (SQLITE_PATH) and print every scenario's outcome as JSON."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compassionclub.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    assert connection.vendor == "sqlite" and connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    call_command("migrate", verbosity=0)
    json.dump({name: scenario() for name, scenario in scenarios.items()}, sys.stdout)


if __name__ == "__main__":
    run_scenarios(SCENARIOS)
