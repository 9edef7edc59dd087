"""A held or recalled batch's reach by group: grams still in each store, distinct members who
received it and grams received. Checked per role against the ledger itself."""

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from distributions import selectors, services
from distributions.models import LedgerEntry
from members.codes import format_code
from testing_results.models import Batch
from tests.distributions.ledger_helpers import D, batch_at_group, handed_out_in_two_groups, key, member_in, store_grams


@pytest.fixture
def recalled(group_a, group_b, alice, bob, pat):
    """A batch in both groups' stores: VANDU handed it to two members (one of them twice, one
    handout reversed), SOLID to one member."""
    batch, members = handed_out_in_two_groups(group_a, group_b, alice, bob, pat)
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RECALLED)
    batch.refresh_from_db()
    return batch, members


def ledger_truth(batch, group):
    handed = LedgerEntry.objects.filter(
        batch=batch, kind=LedgerEntry.Kind.DISTRIBUTION, reversed_by__isnull=True, member__group=group
    )
    return (
        store_grams(batch, group),
        handed.values("member").distinct().count(),
        D(handed.aggregate(total=Sum("grams"))["total"] or 0),
    )


def reach(batch, user):
    return {r.group_short_name: (r.store_grams, r.members, r.received_grams) for r in selectors.batch_reach_by_group(batch, user)}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["dana", "charlie", "pat", "root"])
def test_release_officers_auditors_and_admins_see_every_group_and_it_adds_up_to_the_ledger(
    request, role, recalled, group_a, group_b
):
    batch, _ = recalled
    user = request.getfixturevalue(role)
    assert reach(batch, user) == {"VANDU": ledger_truth(batch, group_a), "SOLID": ledger_truth(batch, group_b)}
    assert reach(batch, user) == {"VANDU": (D("33.500"), 2, D("6.500")), "SOLID": (D("25.000"), 1, D("5.000"))}


@pytest.mark.django_db
def test_a_coordinator_sees_only_their_own_groups(recalled, alice, bob, erin, group_a, group_b):
    batch, _ = recalled
    assert reach(batch, alice) == {"VANDU": ledger_truth(batch, group_a)}
    assert reach(batch, bob) == {"SOLID": ledger_truth(batch, group_b)}
    # A drug checker sees the stock in every store (distributions.visibility), never who received it.
    assert reach(batch, erin) == {"VANDU": (D("33.500"), 0, D("0.000")), "SOLID": (D("25.000"), 0, D("0.000"))}


@pytest.mark.django_db
def test_a_group_that_handed_out_its_whole_stock_is_still_listed(group_a, alice, pat):
    batch = batch_at_group(group_a, pat, grams="2.000")
    member = member_in(group_a)
    services.distribution_record(member=member, batch=batch, grams=Decimal("2.000"), by=alice, idempotency_key=key())
    assert reach(batch, pat) == {"VANDU": (D("0.000"), 1, D("2.000"))}


@pytest.mark.django_db
def test_the_release_officer_sees_counts_on_the_batch_page_and_no_member_codes(client, recalled, dana):
    batch, members = recalled
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Reach of this batch by group" in page
    assert "33.500 g" in page and "25.000 g" in page and "6.500 g" in page
    assert "Nobody has received this batch" not in page
    assert "Member codes show only to the members&#x27; coordinators" in page or "Member codes show only" in page
    for member in members:
        assert format_code(member.code) not in page and member.code not in page


@pytest.mark.django_db
def test_a_coordinator_sees_their_own_members_codes_and_their_groups_reach(client, recalled, alice):
    batch, (a1, a2, b1) = recalled
    client.force_login(alice)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Reach of this batch by group (your groups only)" in page
    assert format_code(a1.code) in page and format_code(a2.code) in page
    assert format_code(b1.code) not in page and "SOLID" not in page.split("Reach of this batch by group")[1].split("Who received")[0]
