from decimal import Decimal

import pytest

from distributions import selectors, services
from distributions.models import LedgerEntry
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in, store_grams


@pytest.mark.django_db
def test_a_distribution_moves_stock_from_the_group_to_the_member(group_a, alice, pat):
    batch = batch_at_group(group_a, pat, grams="20.000")
    member = member_in(group_a)
    entry = services.distribution_record(member=member, batch=batch, grams=Decimal("3.500"), by=alice, idempotency_key=key())
    assert entry.kind == LedgerEntry.Kind.DISTRIBUTION
    assert store_grams(batch, group_a) == D("16.500")
    assert [b.pk for b in selectors.group_stock(group_a)] == [batch.pk]
    rows = selectors.batch_recipients(batch, alice)
    assert [(r.group_short_name, r.member_code, r.grams) for r in rows] == [("VANDU", member.code, D("3.500"))]
