"""Custody races with real threads (``race.race``), shared by the PostgreSQL tests and the
SQLite file-database run (``python -m tests.distributions.custody_race``)."""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal

from tests.distributions.race import race, run_scenarios


def _people_and_stock():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from members.models import MemberGroup
    from tests.distributions.ledger_helpers import batch_in_central
    from tests.factories import PASSWORD

    User = get_user_model()
    suffix = uuid.uuid4().hex[:6]
    admin = User.objects.create(username=f"admin-{suffix}", is_staff=True, is_superuser=True)
    group = MemberGroup.objects.create(short_name=f"C{suffix}", name=f"Custody group {suffix}", region="island")
    password = make_password(PASSWORD)  # the second coordinator witnesses the count
    coordinators = [User.objects.create(username=f"coord{i}-{suffix}", is_staff=True, password=password) for i in range(2)]
    group.coordinators.add(*coordinators)
    batch = batch_in_central(grams="1000", by=admin, created_by=admin)
    return admin, group, coordinators, batch


def two_receivers_one_manifest() -> dict:
    """Two coordinators of the receiving group weigh and receive the same manifest at once,
    one the grams sent and one with a shortfall."""
    from distributions import services
    from distributions.models import Account, LedgerEntry, Manifest
    from distributions.services.ledger import group_account, system_account
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import store_grams

    admin, group, coordinators, batch = _people_and_stock()
    manifest = services.manifest_send(
        batch=batch, from_store=system_account(Account.Kind.CENTRAL), to_store=group_account(group),
        grams=Decimal("25.000"), packages=1, by=admin,
    )
    weights = [("25.000", None), ("24.000", "missing")]
    results = race(2, lambda i: services.manifest_receive(
        manifest=manifest, grams_received=weights[i][0], by=coordinators[i], reason=weights[i][1]))
    manifest.refresh_from_db()
    report = verify_ledger()
    return {
        "outcomes": dict(Counter(kind if kind == "ok" else f"{kind}:{detail}" for kind, detail in results)),
        "status": manifest.status,
        "grams_received": str(manifest.grams_received),
        "store_grams": str(store_grams(batch, group)),
        "receive_entries": LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.MANIFEST_RECEIVE).count(),
        "difference_entries": LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.MANIFEST_DIFF).count(),
        "received": Manifest.objects.filter(pk=manifest.pk, status=Manifest.Status.RECEIVED).count(),
        "ledger_ok": report.ok,
        "ledger_summary": report.summary(),
    }


def count_while_distributing(n: int = 8) -> dict:
    """A count of a store holding 20 g is signed (15.500 g counted) while ``n`` coordinators'
    desks hand out 1 g each from it. Every distribution lands before the count or after it:
    the count's ledger balance is 20 g less those before, and the store ends at 15.500 g less
    those after."""
    from distributions import services
    from distributions.models import Account, LedgerEntry, StockCount
    from distributions.services.ledger import group_account, system_account
    from distributions.verify import verify_ledger
    from tests.distributions.ledger_helpers import member_in, store_grams
    from tests.factories import PASSWORD

    admin, group, coordinators, batch = _people_and_stock()
    store = group_account(group)
    services.manifest_receive(
        manifest=services.manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL), to_store=store,
                                        grams=Decimal("20.000"), packages=1, by=admin),
        grams_received="20.000", by=coordinators[0],
    )
    members = [member_in(group, created_by=coordinators[0]) for _ in range(n)]

    def act(i: int):
        if i == 0:
            return services.count_record(store=store, lines={batch: "15.500"}, by=coordinators[0], witness=coordinators[1],
                                         witness_password=PASSWORD)
        return services.distribution_record(member=members[i - 1], batch=batch, grams=Decimal("1.000"),
                                            by=coordinators[1], idempotency_key=uuid.uuid4().hex)

    results = race(n + 1, act)
    count = StockCount.objects.filter(store=store).first()
    line = count.lines.get() if count else None
    adjustment = line.entry if line else None
    chain = LedgerEntry.objects.filter(batch=batch, chain=adjustment.chain) if adjustment else LedgerEntry.objects.none()
    handed_out = chain.filter(kind=LedgerEntry.Kind.DISTRIBUTION)
    report = verify_ledger()
    return {
        "outcomes": dict(Counter(kind if kind == "ok" else f"{kind}:{detail}" for kind, detail in results)),
        "before": handed_out.filter(chain_seq__lt=adjustment.chain_seq).count() if adjustment else None,
        "after": handed_out.filter(chain_seq__gt=adjustment.chain_seq).count() if adjustment else None,
        "ledger_grams": str(line.ledger_grams) if line else None,
        "adjustment_grams": str(adjustment.grams) if adjustment else None,
        "store_grams": str(store_grams(batch, group)),
        "ledger_ok": report.ok,
        "ledger_summary": report.summary(),
    }


SCENARIOS = {
    "two_receivers_one_manifest": two_receivers_one_manifest,
    "count_while_distributing": count_while_distributing,
}


if __name__ == "__main__":
    run_scenarios(SCENARIOS)
