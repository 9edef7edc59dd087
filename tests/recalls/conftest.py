"""Recall fixtures: a released batch in VANDU's and SOLID's stores, handed out to members of
both, through the ledger services; holds and recalls go through the testing services."""

from __future__ import annotations

from decimal import Decimal

import pytest

from distributions import services
from tests.builders import transfer
from tests.distributions.ledger_helpers import batch_at_group, key, member_in


@pytest.fixture
def out_in_groups(group_a, group_b, alice, bob, pat):
    """A released batch: VANDU holds 33.5 g and handed 6.5 g to two members (one twice, a
    mistaken handout reversed), SOLID holds 25 g and handed 5 g to one member."""
    batch = batch_at_group(group_a, pat, grams="40.000")
    transfer(batch=batch, to_group=group_b, grams=Decimal("30.000"), by=pat)
    a1, a2, b1 = member_in(group_a), member_in(group_a), member_in(group_b)
    give = services.distribution_record
    give(member=a1, batch=batch, grams=Decimal("2.000"), by=alice, idempotency_key=key())
    give(member=a1, batch=batch, grams=Decimal("1.500"), by=alice, idempotency_key=key())
    mistake = give(member=a2, batch=batch, grams=Decimal("4.000"), by=alice, idempotency_key=key())
    services.entry_reverse(entry=mistake, reason="entered_by_mistake", by=alice)
    give(member=a2, batch=batch, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    give(member=b1, batch=batch, grams=Decimal("5.000"), by=bob, idempotency_key=key())
    return batch, (a1, a2, b1)
