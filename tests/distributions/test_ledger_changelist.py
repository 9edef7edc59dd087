"""The ledger changelist counts at most CAP + 1 rows, so its cost does not grow with the ledger."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compassionclub.admin_mixins import CappedCountPaginator
from distributions.models import LedgerEntry
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
