"""Witnessed destruction: a second person who may handle the store, a method code, never more
than the store holds; the admin page has the witness type their own password."""

import pytest
from django.urls import reverse

from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, LedgerEntry, WitnessedDestruction
from distributions.services.ledger import group_account
from distributions.verify import verify_ledger
from tests.distributions.ledger_helpers import D, batch_at_group, store_grams
from tests.distributions.test_custody_manifests import refused
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(group_a, pat):
    return batch_at_group(group_a, pat, grams="10.000", received="50.000")


def destroy(batch, store, by, witness, grams="2.000", **kw):
    fields = {"reason": "damaged", "method": "incineration", **kw}
    fields.setdefault("witness_password", PASSWORD)
    return services.destruction_witnessed(batch=batch, store=store, grams=D(grams), by=by, witness=witness, **fields)


def test_a_coordinator_destroys_stock_before_a_second_coordinator(batch, alice, carol, group_a):
    record = destroy(batch, group_account(group_a), alice, carol)
    assert (record.destroyed_by, record.witness, record.method) == (alice, carol, "incineration")
    entry = record.entry
    assert (entry.kind, entry.grams, entry.reason) == (LedgerEntry.Kind.DESTRUCTION, D(2), "damaged")
    assert entry.to_account.kind == Account.Kind.DESTROYED
    assert store_grams(batch, group_a) == D(8)
    assert verify_ledger().ok



def test_the_destroyer_cannot_witness_themselves(batch, alice, group_a):
    refused("witness_same_person", destroy, batch=batch, store=group_account(group_a), by=alice, witness=alice)
    refused("witness_same_person", destroy, batch=batch, store=group_account(group_a), by=alice, witness=None)


def test_a_witness_without_a_right_to_the_store_is_refused(batch, alice, bob, charlie, dana, group_a):
    for witness in (bob, charlie, dana):
        refused("witness_not_permitted", destroy, batch=batch, store=group_account(group_a), by=alice, witness=witness)


def test_another_groups_coordinator_may_not_destroy(batch, bob, carol, group_a):
    refused("not_permitted", destroy, batch=batch, store=group_account(group_a), by=bob, witness=carol)


def test_a_destruction_beyond_the_balance_is_refused(batch, alice, carol, group_a):
    refused("insufficient_stock", destroy, batch=batch, store=group_account(group_a), by=alice, witness=carol, grams="10.001")


def test_bad_codes_are_refused(batch, alice, carol, group_a):
    store = group_account(group_a)
    refused("method_invalid", destroy, batch=batch, store=store, by=alice, witness=carol, method="flushed")
    refused("reason_invalid", destroy, batch=batch, store=store, by=alice, witness=carol, reason="bored")
    refused("grams_not_positive", destroy, batch=batch, store=store, by=alice, witness=carol, grams="0")


def test_a_retry_with_the_same_key_destroys_once(batch, alice, carol, group_a):
    first = destroy(batch, group_account(group_a), alice, carol, idempotency_key="d-1")
    again = destroy(batch, group_account(group_a), alice, carol, idempotency_key="d-1")
    assert first.pk == again.pk
    assert store_grams(batch, group_a) == D(8)


def form(batch, store, witness, **kw):
    return {"store": store.pk, "batch": batch.pk, "grams": "1.500", "reason": "expired", "method": "denaturing_kit",
            "witness": witness.pk, "witness_password": PASSWORD, "witness_code": "", "idempotency_key": "page-1", **kw}


def test_the_page_needs_the_witnesss_own_password_and_redirects_after_destroying(client, batch, alice, carol, group_a):
    client.force_login(alice)
    url = reverse("admin:distributions_witnesseddestruction_add")
    assert client.get(url).status_code == 200
    wrong = client.post(url, form(batch, group_account(group_a), carol, witness_password="guess"))
    assert wrong.status_code == 200 and b"password was not accepted" in wrong.content
    assert not WitnessedDestruction.objects.exists()
    done = client.post(url, form(batch, group_account(group_a), carol))
    assert done.status_code == 302
    assert client.post(url, form(batch, group_account(group_a), carol)).status_code == 302
    assert WitnessedDestruction.objects.count() == 1
    assert store_grams(batch, group_a) == D("8.500")
    listing = client.get(done["Location"])
    assert b"denaturing" in listing.content.lower() or b"Activated-carbon" in listing.content


def test_another_group_does_not_see_the_destruction(client, batch, alice, carol, bob, group_a):
    record = destroy(batch, group_account(group_a), alice, carol)
    client.force_login(bob)
    assert client.get(reverse("admin:distributions_witnesseddestruction_change", args=[record.pk])).status_code == 302


def test_a_service_refusal_comes_back_to_the_form(client, batch, alice, carol, group_a):
    client.force_login(alice)
    url = reverse("admin:distributions_witnesseddestruction_add")
    response = client.post(url, form(batch, group_account(group_a), carol, grams="11"))
    assert response.status_code == 200 and b"holds only 10.000 g" in response.content
    with pytest.raises(ServiceError):
        destroy(batch, group_account(group_a), alice, carol, grams="11")


def test_programme_staff_witness_in_any_store(batch, alice, pat, group_a):
    destroy(batch, group_account(group_a), alice, pat)
    assert store_grams(batch, group_a) == D(8)
