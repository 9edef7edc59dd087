"""The ledger in the admin: read-only, no delete anywhere, reversal and transfer through services."""

import pytest
from django.urls import reverse

from distributions import services
from distributions.models import LedgerEntry
from tests.distributions.ledger_helpers import D, batch_at_group, batch_in_central, key, member_in, store_grams

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(group_a, alice, pat):
    batch = batch_at_group(group_a, pat, grams="10")
    return services.distribution_record(member=member_in(group_a), batch=batch, grams=D(2), by=alice, idempotency_key=key())


def test_entries_are_listed_read_only_without_a_delete_action(client, root, entry):
    client.force_login(root)
    response = client.get(reverse("admin:distributions_ledgerentry_changelist"))
    assert response.status_code == 200
    assert b"delete_selected" not in response.content
    page = client.get(reverse("admin:distributions_ledgerentry_change", args=[entry.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:distributions_ledgerentry_delete", args=[entry.pk])).status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_a_coordinator_reverses_a_distribution_with_a_reason(client, alice, entry, group_a):
    client.force_login(alice)
    url = reverse("admin:distributions_ledgerentry_reverse", args=[entry.pk])
    assert client.post(url, {"reason": "wrong_member"}).status_code == 302
    assert entry.reversed_by.reason == "wrong_member"
    assert store_grams(entry.batch, group_a) == D(10)
    again = client.post(url, {"reason": "wrong_member"})
    assert b"already been reversed" in again.content


def test_another_groups_coordinator_cannot_reach_the_reversal_page(client, bob, entry):
    client.force_login(bob)
    assert client.get(reverse("admin:distributions_ledgerentry_reverse", args=[entry.pk])).status_code == 404


def test_the_old_transfer_address_sends_to_the_manifest_page_and_moves_nothing(client, pat, group_a):
    # Stock moves between stores only on a manifest: the instant transfer page is gone.
    batch = batch_in_central(grams="50")
    client.force_login(pat)
    url = reverse("admin:distributions_ledgerentry_transfer")
    before = LedgerEntry.objects.count()
    for response in (client.get(url), client.post(url, {"batch": batch.pk, "to_group": group_a.pk, "grams": "12.5"})):
        assert response.status_code == 302 and response["Location"] == reverse("admin:distributions_manifest_add")
    assert LedgerEntry.objects.count() == before
    assert store_grams(batch, group_a) == D(0)
