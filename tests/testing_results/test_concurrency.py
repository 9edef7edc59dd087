"""Two officers acting on one batch at the same moment: exactly one succeeds (PostgreSQL, real
threads, each with its own connection)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from compassionclub.errors import ServiceError
from compassionclub.roles import Role
from testing_results import services
from testing_results.models import Batch, BatchStatusChange
from tests import factories as f

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; SQLite serialises writers anyway"),
]


def _race(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            outcomes[i] = call()
        except ServiceError as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_officers_releasing_and_recalling_at_once_cannot_both_succeed(heroin, clean_checks, dana):
    # A flushed (transactional) database has lost the seeded methods and capabilities; put them back.
    f.seeded_methods()
    other = f.UserFactory(username="dana2", roles=[Role.RELEASE_OFFICER])
    batch = f.BatchFactory(substance=heroin)
    clean_checks(batch)

    outcomes = _race(*(lambda u=u: services.batch_release(batch=Batch.objects.get(pk=batch.pk), by=u, reason="ok")
                       for u in (dana, other)))
    assert sum(isinstance(o, Batch) for o in outcomes) == 1
    assert [o.code for o in outcomes if isinstance(o, ServiceError)] == ["illegal_transition"]

    outcomes = _race(
        lambda: services.batch_hold(batch=Batch.objects.get(pk=batch.pk), by=dana, reason="alert"),
        lambda: services.batch_recall(batch=Batch.objects.get(pk=batch.pk), by=other, reason="alert"),
    )
    assert sum(isinstance(o, Batch) for o in outcomes) >= 1
    history = list(BatchStatusChange.objects.filter(batch=batch).order_by("id").values_list("from_status", "to_status"))
    # Either the recall won outright, or the hold won and the recall followed from on_hold.
    assert history[0] == ("quarantined", "released")
    assert history[1:] in ([("released", "recalled")], [("released", "on_hold"), ("on_hold", "recalled")])
