"""Recall fixtures: a released batch in VANDU's and SOLID's stores, handed out to members of
both, through the ledger services; holds and recalls go through the testing services."""

from __future__ import annotations

import pytest

from tests.distributions.ledger_helpers import handed_out_in_two_groups


@pytest.fixture
def out_in_groups(group_a, group_b, alice, bob, pat):
    """A released batch: VANDU holds 33.5 g and handed 6.5 g to two members (one twice, a
    mistaken handout reversed), SOLID holds 25 g and handed 5 g to one member."""
    return handed_out_in_two_groups(group_a, group_b, alice, bob, pat)
