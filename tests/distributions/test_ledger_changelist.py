"""The ledger changelist counts at most CAP + 1 rows, so its cost does not grow with the ledger."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compassionclub.admin_mixins import CappedCountPaginator
from distributions.ledger_admin import LedgerEntryAdmin
from distributions.models import Account, LedgerEntry
from distributions.visibility import entries_visible_to
from tests import factories as f


@pytest.mark.django_db
def test_the_paginator_counts_exactly_below_the_cap_and_stops_above_it(monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(2):
        f.LedgerEntryFactory()
    assert CappedCountPaginator(LedgerEntry.objects.order_by("id"), 100).count == 2
    for _ in range(5):
        f.LedgerEntryFactory()
    assert CappedCountPaginator(LedgerEntry.objects.order_by("id"), 100).count == 4
    assert CappedCountPaginator(list(range(10)), 100).count == 4


@pytest.mark.django_db
def test_the_ledger_changelist_uses_the_capped_count(client, root, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    for _ in range(6):
        f.LedgerEntryFactory()
    client.force_login(root)
    response = client.get(reverse("admin:distributions_ledgerentry_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 4


@pytest.mark.django_db
@pytest.mark.parametrize("cap", [1000, 7])
def test_a_coordinators_pages_hold_their_stores_entries_newest_first(client, alice, group_a, group_b, monkeypatch, cap):
    # On PostgreSQL the page's ids come from each store's (account, id) ranges merged by a UNION
    # (StoreRangesPaginator); the pages must hold exactly what the scoped list ordered by id does.
    monkeypatch.setattr(CappedCountPaginator, "CAP", cap)
    monkeypatch.setattr(LedgerEntryAdmin, "list_per_page", 3)
    group_b.coordinators.add(alice)
    central = Account.objects.get_or_create(kind=Account.Kind.CENTRAL, group=None)[0]
    store_a, store_b = f.AccountFactory(group=group_a), f.AccountFactory(group=group_b)
    elsewhere = f.AccountFactory()
    for from_account, to_account in [
        (central, store_a), (central, elsewhere), (central, store_b), (store_a, store_b), (central, elsewhere),
        (store_b, central), (central, store_a), (central, elsewhere), (central, store_a), (store_a, central),
        (central, elsewhere), (central, store_b), (store_b, store_a),
    ]:
        f.LedgerEntryFactory(from_account=from_account, to_account=to_account)
    client.force_login(alice)
    expected = list(entries_visible_to(alice).order_by("-id").values_list("id", flat=True))
    assert len(expected) == 9
    url = reverse("admin:distributions_ledgerentry_changelist")
    shown, page = [], 1
    while True:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"p": page} if page > 1 else {})
        assert response.status_code == 200
        cl = response.context["cl"]
        shown += [entry.pk for entry in cl.result_list]
        if connection.vendor == "postgresql":
            assert any(" UNION " in q["sql"] for q in queries.captured_queries)
        if page >= cl.paginator.num_pages:
            break
        page += 1
    assert cl.result_count == min(len(expected), cap + 1)
    assert shown == expected[: cl.result_count]
    # Sorted by another column, the list pages the ordinary way, with the same rows.
    response = client.get(url, {"o": "2"})
    assert response.status_code == 200 and response.context["cl"].result_count == min(len(expected), cap + 1)
