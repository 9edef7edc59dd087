"""Manifests: stock on the road between stores, received by weight, cancelled back to the
sender; every refusal stores nothing."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, CustodyPolicy, LedgerEntry, Manifest
from distributions.services.ledger import group_account, system_account
from tests.distributions.ledger_helpers import D, assert_ledger_ok, batch_in_central, key, refuser, store_grams

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        LedgerEntry.objects.count(),
        sorted(Balance.objects.values_list("account_id", "batch_id", "grams", "last_seq")),
        AuditRecord.objects.count(),
        sorted(Manifest.objects.values_list("id", "status", "grams_received", "flagged")),
    )


refused = refuser(snapshot)


def in_transit(batch) -> Decimal:
    value = Balance.objects.filter(batch=batch, account__kind=Account.Kind.IN_TRANSIT).values_list("grams", flat=True).first()
    return D(value or 0)


@pytest.fixture
def batch(pat):
    return batch_in_central(grams="100.000", by=pat)


@pytest.fixture
def central(db):
    return system_account(Account.Kind.CENTRAL)


@pytest.fixture
def store_a(group_a):
    return group_account(group_a)


@pytest.fixture
def store_b(group_b):
    return group_account(group_b)


def send(batch, to_store, by, grams="20.000", packages=2, **kw):
    return services.manifest_send(
        batch=batch, from_store=kw.pop("from_store", None) or system_account(Account.Kind.CENTRAL), to_store=to_store,
        grams=D(grams), packages=packages, by=by, **kw,
    )


def test_sending_puts_the_grams_in_transit_and_the_store_does_not_have_them_yet(batch, pat, store_a, group_a):
    manifest = send(batch, store_a, pat)
    assert manifest.status == Manifest.Status.IN_TRANSIT
    assert manifest.code == f"MF-{manifest.pk:06d}"
    assert (manifest.grams_sent, manifest.packages, manifest.sent_by) == (D(20), 2, pat)
    assert manifest.send_entry.kind == LedgerEntry.Kind.MANIFEST_SEND
    assert store_grams(batch) == D(80)
    assert in_transit(batch) == D(20)
    assert store_grams(batch, group_a) == D(0)
    assert AuditRecord.objects.filter(action="manifest.sent").count() == 1
    assert_ledger_ok()


def test_a_retry_with_the_same_key_returns_the_first_manifest(batch, pat, store_a):
    k = key()
    first = send(batch, store_a, pat, idempotency_key=k)
    again = send(batch, store_a, pat, idempotency_key=k)
    assert again.pk == first.pk
    assert Manifest.objects.count() == 1
    assert in_transit(batch) == D(20)


def test_receiving_the_grams_sent_moves_them_into_the_store(batch, pat, alice, store_a, group_a):
    manifest = send(batch, store_a, pat)
    received = services.manifest_receive(manifest=manifest, grams_received="20.000", by=alice)
    assert received.status == Manifest.Status.RECEIVED
    assert (received.received_by, received.grams_received, received.difference_reason) == (alice, D(20), "")
    assert received.receive_entry.kind == LedgerEntry.Kind.MANIFEST_RECEIVE
    assert received.difference_entry is None
    assert not received.flagged
    assert store_grams(batch, group_a) == D(20)
    assert in_transit(batch) == D(0)
    assert_ledger_ok()


def test_a_shortfall_is_its_own_entry_with_its_reason_and_within_tolerance_not_flagged(batch, pat, alice, store_a, group_a):
    manifest = send(batch, store_a, pat)
    received = services.manifest_receive(manifest=manifest, grams_received="19.600", by=alice, reason="weighing_difference")
    assert store_grams(batch, group_a) == D("19.600")
    assert in_transit(batch) == D(0)
    diff = received.difference_entry
    assert (diff.kind, diff.grams, diff.reason) == (LedgerEntry.Kind.MANIFEST_DIFF, D("0.400"), "weighing_difference")
    assert diff.from_account.kind == Account.Kind.IN_TRANSIT and diff.to_account.kind == Account.Kind.SUPPLIER
    assert not received.flagged  # 0.4 g is within max(0.5 g, 1 % of 20 g)
    assert_ledger_ok()


def test_a_difference_beyond_the_tolerance_is_flagged(batch, pat, alice, store_a):
    manifest = send(batch, store_a, pat)
    received = services.manifest_receive(manifest=manifest, grams_received="19.499", by=alice, reason="spillage")
    assert received.flagged


def test_the_tolerance_is_the_larger_of_grams_and_percent(batch, pat, alice, store_a):
    # 1 % of 80 g is 0.8 g, more than 0.5 g: a 0.7 g difference is within it.
    manifest = send(batch, store_a, pat, grams="80")
    assert not services.manifest_receive(manifest=manifest, grams_received="79.300", by=alice, reason="spillage").flagged


def test_a_programme_admin_sets_the_tolerance(batch, pat, alice, store_a):
    services.custody_policy_set(tolerance_grams="0.100", tolerance_percent="0", count_interval_days=14, by=pat)
    assert CustodyPolicy.current().count_interval_days == 14
    manifest = send(batch, store_a, pat)
    assert services.manifest_receive(manifest=manifest, grams_received="19.800", by=alice, reason="spillage").flagged
    with pytest.raises(ServiceError) as excinfo:
        services.custody_policy_set(tolerance_grams="0.1", tolerance_percent="0", count_interval_days=7, by=alice)
    assert excinfo.value.code == "not_permitted"
    for bad in ({"tolerance_grams": "-1"}, {"tolerance_percent": "101"}, {"count_interval_days": 0}):
        kwargs = {"tolerance_grams": "0.5", "tolerance_percent": "1", "count_interval_days": 7, **bad}
        with pytest.raises(ServiceError):
            services.custody_policy_set(by=pat, **kwargs)


def test_more_than_sent_with_a_reason_comes_in_from_outside(batch, pat, alice, store_a, group_a):
    manifest = send(batch, store_a, pat)
    received = services.manifest_receive(manifest=manifest, grams_received="20.300", by=alice, reason="weighing_difference")
    assert store_grams(batch, group_a) == D("20.300")
    diff = received.difference_entry
    assert diff.from_account.kind == Account.Kind.SUPPLIER and diff.to_account_id == store_a.pk
    assert diff.grams == D("0.300")
    assert_ledger_ok()


def test_nothing_arrived_is_recorded_as_missing(batch, pat, alice, store_a, group_a):
    manifest = send(batch, store_a, pat)
    received = services.manifest_receive(manifest=manifest, grams_received="0", by=alice, reason="missing")
    assert received.receive_entry is None
    assert received.difference_entry.grams == D(20)
    assert received.flagged
    assert store_grams(batch, group_a) == D(0)
    assert in_transit(batch) == D(0)
    assert_ledger_ok()


def test_cancelling_brings_the_grams_back_to_the_sender(batch, pat, store_a):
    manifest = send(batch, store_a, pat)
    cancelled = services.manifest_cancel(manifest=manifest, by=pat)
    assert cancelled.status == Manifest.Status.CANCELLED
    assert cancelled.cancel_entry.kind == LedgerEntry.Kind.MANIFEST_CANCEL
    assert store_grams(batch) == D(100)
    assert in_transit(batch) == D(0)
    assert_ledger_ok()


def test_a_group_sends_to_another_group_and_a_coordinator_of_the_sender_may_cancel(batch, pat, alice, bob, store_a, store_b, group_a, group_b):
    first = send(batch, store_a, pat, grams="30")
    services.manifest_receive(manifest=first, grams_received="30", by=alice)
    onward = send(batch, store_b, alice, grams="10", from_store=store_a)
    assert store_grams(batch, group_a) == D(20)
    refused("not_permitted", services.manifest_cancel, manifest=onward, by=bob)
    services.manifest_cancel(manifest=onward, by=alice)
    assert store_grams(batch, group_a) == D(30)
    onward = send(batch, store_b, alice, grams="10", from_store=store_a)
    services.manifest_receive(manifest=onward, grams_received="10", by=bob)
    assert store_grams(batch, group_b) == D(10)
    assert_ledger_ok()


def test_receiving_twice_is_refused(batch, pat, alice, carol, store_a):
    manifest = send(batch, store_a, pat)
    services.manifest_receive(manifest=manifest, grams_received="20", by=alice)
    refused("already_received", services.manifest_receive, manifest=manifest, grams_received="20", by=carol)


def test_receiving_into_the_wrong_group_is_refused(batch, pat, bob, store_a):
    manifest = send(batch, store_a, pat)
    refused("wrong_group", services.manifest_receive, manifest=manifest, grams_received="20", by=bob)
    # A programme admin is not a coordinator of the group: the group weighs its own arrivals.
    refused("wrong_group", services.manifest_receive, manifest=manifest, grams_received="20", by=pat)


def test_a_difference_without_a_reason_is_refused(batch, pat, alice, store_a):
    manifest = send(batch, store_a, pat)
    refused("more_than_sent", services.manifest_receive, manifest=manifest, grams_received="20.001", by=alice)
    refused("difference_reason_required", services.manifest_receive, manifest=manifest, grams_received="19", by=alice)
    refused("reason_invalid", services.manifest_receive, manifest=manifest, grams_received="19", by=alice, reason="lost it")


@pytest.mark.parametrize("grams, code", [
    ("-1", "grams_negative"), ("abc", "grams_invalid"), ("1.0001", "grams_invalid"), ("NaN", "grams_invalid"),
    ("Infinity", "grams_invalid"), ("", "grams_invalid"), (None, "grams_invalid"),
])
def test_malformed_or_negative_weights_are_refused(batch, pat, alice, store_a, grams, code):
    manifest = send(batch, store_a, pat)
    refused(code, services.manifest_receive, manifest=manifest, grams_received=grams, by=alice, reason="spillage")


def test_cancelling_a_received_manifest_is_refused_and_cancelling_twice_too(batch, pat, alice, store_a):
    received = send(batch, store_a, pat)
    services.manifest_receive(manifest=received, grams_received="20", by=alice)
    refused("already_received", services.manifest_cancel, manifest=received, by=pat)
    cancelled = send(batch, store_a, pat)
    services.manifest_cancel(manifest=cancelled, by=pat)
    refused("already_cancelled", services.manifest_cancel, manifest=cancelled, by=pat)
    refused("already_cancelled", services.manifest_receive, manifest=cancelled, grams_received="20", by=alice)


def test_sending_refusals_store_nothing(batch, pat, alice, store_a, central, group_b):
    refused("grams_not_positive", send, batch=batch, to_store=store_a, by=pat, grams="0")
    refused("insufficient_stock", send, batch=batch, to_store=store_a, by=pat, grams="100.001")
    refused("packages_invalid", send, batch=batch, to_store=store_a, by=pat, packages=0)
    refused("packages_invalid", send, batch=batch, to_store=store_a, by=pat, packages="two")
    refused("same_account", send, batch=batch, to_store=central, by=pat)
    refused("not_a_store", send, batch=batch, to_store=system_account(Account.Kind.LAB), by=pat)
    refused("not_permitted", send, batch=batch, to_store=store_a, by=alice)
    group_b.is_active = False
    group_b.save()
    refused("group_inactive", send, batch=batch, to_store=group_account(group_b), by=pat)


def test_an_unreleased_batch_is_not_sent_to_a_group_but_may_come_back_to_the_centre(pat, alice, store_a, group_a):
    from testing_results.models import Batch

    batch = batch_in_central(grams="50", by=pat)
    manifest = send(batch, store_a, pat)
    services.manifest_receive(manifest=manifest, grams_received="20", by=alice)
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RECALLED)
    refused("batch_recalled", send, batch=batch, to_store=store_a, by=pat, grams="1")
    back = send(batch, system_account(Account.Kind.CENTRAL), alice, from_store=store_a, grams="20")
    services.manifest_receive(manifest=back, grams_received="20", by=pat)
    assert store_grams(batch) == D(50)


def test_a_manifest_entry_is_not_reversed_by_hand(batch, pat, store_a):
    manifest = send(batch, store_a, pat)
    refused("custody_entry", services.entry_reverse, entry=manifest.send_entry, reason="entered_by_mistake", by=pat)


def test_the_database_refuses_a_received_manifest_without_its_weight(batch, pat, store_a):
    manifest = send(batch, store_a, pat)
    with pytest.raises(IntegrityError), transaction.atomic():
        Manifest.objects.filter(pk=manifest.pk).update(status=Manifest.Status.RECEIVED)
    with pytest.raises(IntegrityError), transaction.atomic():
        Manifest.objects.filter(pk=manifest.pk).update(flagged=True)
