"""The ledger's services: what they write, and every refusal storing nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import signals
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from distributions import services
from distributions.models import Account, Balance, LedgerEntry
from distributions.services.ledger import entry_append, group_account, ledger_write, system_account
from members.models import Member
from testing_results.models import Batch
from testing_results.signals import batch_received, check_recorded
from tests import factories as f
from tests.builders import destroy, transfer
from tests.distributions.ledger_helpers import (
    D,
    assert_ledger_ok,
    batch_at_group,
    batch_in_central,
    key,
    member_in,
    refuser,
    store_grams,
)

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        LedgerEntry.objects.count(),
        sorted(Balance.objects.values_list("account_id", "batch_id", "grams", "last_seq")),
        AuditRecord.objects.count(),
    )


refused = refuser(snapshot)  # nothing stored


@pytest.fixture
def member(group_a):
    return member_in(group_a)


@pytest.fixture
def stocked(group_a, pat):
    return batch_at_group(group_a, pat, grams="40.000")


def distribute(member, batch, by, grams="1.000", **kw):
    return services.distribution_record(member=member, batch=batch, grams=D(grams), by=by, idempotency_key=kw.pop("idempotency_key", key()), **kw)


# Intake and samples, through the testing app's signals ---------------------------------------


def test_a_received_batch_enters_the_central_store_from_the_supplier(erin):
    batch = f.BatchFactory(received_grams=D("250.000"), created_by=erin)
    with transaction.atomic():
        batch_received.send(sender=Batch, batch=batch, by=erin)
    entry, reference = LedgerEntry.objects.filter(batch=batch).order_by("id")
    assert (entry.kind, entry.from_account.kind, entry.to_account.kind, entry.grams) == ("intake", "supplier", "central", D("250"))
    # Then the reference sample (1 g by default) leaves the central store for the reference account.
    assert (reference.kind, reference.from_account.kind, reference.to_account.kind, reference.grams) == (
        "reference", "central", "reference", D("1"))
    assert store_grams(batch) == D("249.000")
    assert_ledger_ok()


def test_a_repeated_intake_signal_writes_one_entry(erin):
    batch = f.BatchFactory(received_grams=D("250.000"))
    first = services.intake_record(batch=batch, by=erin)
    assert services.intake_record(batch=batch, by=erin) == first
    assert LedgerEntry.objects.filter(batch=batch).count() == 1


def test_a_check_sample_leaves_the_central_store_for_the_lab_rounded_up_to_the_milligram(erin):
    batch = batch_in_central(grams="10.000", status=Batch.Status.QUARANTINED)
    check = f.DrugCheckFactory(batch=batch, sample_mg=Decimal("12.400"))
    with transaction.atomic():
        check_recorded.send(sender=type(check), drug_check=check, by=erin)
    sample = LedgerEntry.objects.get(kind=LedgerEntry.Kind.SAMPLE)
    assert (sample.to_account.kind, sample.grams) == ("lab", D("0.013"))
    assert store_grams(batch) == D("9.987")
    assert_ledger_ok()


def test_a_check_without_a_sample_writes_nothing(erin):
    batch = batch_in_central(grams="10.000", status=Batch.Status.QUARANTINED)
    assert services.sample_record(drug_check=f.DrugCheckFactory(batch=batch, sample_mg=Decimal("0")), by=erin) is None


def test_a_sample_larger_than_the_central_store_is_refused(erin):
    batch = batch_in_central(grams="0.010", status=Batch.Status.QUARANTINED)
    check = f.DrugCheckFactory(batch=batch, sample_mg=Decimal("20"))
    refused("insufficient_stock", services.sample_record, drug_check=check, by=erin)


# Transfers -----------------------------------------------------------------------------------
# Stock moves between stores only on a manifest (tests/distributions/test_custody_manifests.py).
# Entries of the old instant kind stay in the ledger's history, verified and reversible.


def legacy_transfer(batch, group, grams, by) -> LedgerEntry:
    """A ``transfer`` entry as the ledger wrote them before manifests."""
    idem = f"legacy-{key()}"
    return ledger_write(lambda: entry_append(
        kind=LedgerEntry.Kind.TRANSFER, batch=batch, from_account=system_account(Account.Kind.CENTRAL),
        to_account=group_account(group), grams=D(grams), by=by, idempotency_key=idem,
    ), idem)


def test_old_transfer_entries_still_verify_and_count_in_the_stores(group_a, pat):
    batch = batch_in_central(grams="100.000")
    legacy_transfer(batch, group_a, "60", pat)
    assert (store_grams(batch), store_grams(batch, group_a)) == (D(40), D(60))
    assert_ledger_ok()


def test_the_instant_transfer_and_the_unwitnessed_destruction_are_gone():
    assert not hasattr(services, "stock_transfer")
    assert not hasattr(services, "stock_destroy")


# Distributions -------------------------------------------------------------------------------


def test_a_distribution_moves_grams_from_the_group_store_to_members(member, stocked, alice, group_a):
    entry = distribute(member, stocked, alice, "3.500")
    assert (entry.kind, entry.member, entry.from_account.group, entry.to_account.kind) == ("distribution", member, group_a, "members")
    assert store_grams(stocked, group_a) == D("36.500")
    assert Balance.objects.get(account__kind=Account.Kind.MEMBERS, batch=stocked).grams == D("3.500")
    assert_ledger_ok()


def test_the_returned_distribution_is_the_row_as_the_database_holds_it(member, stocked, alice):
    entry = distribute(member, stocked, alice, "1.250")
    stored = LedgerEntry.objects.get(pk=entry.pk)
    for field in LedgerEntry._meta.concrete_fields:
        assert getattr(entry, field.attname) == getattr(stored, field.attname), field.name
    assert (entry._state.adding, entry._state.db) == (False, "default")
    # It is built without Model.__init__, so nothing may listen for the init signals.
    assert not signals.pre_init.has_listeners(LedgerEntry) and not signals.post_init.has_listeners(LedgerEntry)
    assert entry.member == member and entry.batch == stocked and entry.hash == entry.compute_hash()
    with pytest.raises(PermissionError):
        entry.save()


def test_the_distribution_cursor_is_seen_by_query_capture_and_keeps_djangos_errors(member, stocked, alice, group_a):
    from django.db import IntegrityError, connection
    from django.db.backends.utils import CursorWrapper
    from django.test.utils import CaptureQueriesContext

    from distributions.services import _ledger_sql

    with CaptureQueriesContext(connection) as captured:
        distribute(member, stocked, alice, "1")
    assert any("FOR UPDATE" in q["sql"] for q in captured.captured_queries) == (connection.vendor == "postgresql")
    assert len(captured.captured_queries) >= 3

    # Unobserved, PostgreSQL's statements go through the driver's own cursor; a unique
    # violation is still Django's IntegrityError, which ledger_write catches.
    existing = Balance.objects.get(account=group_account(group_a), batch=stocked)
    table = connection.ops.quote_name(Balance._meta.db_table)
    with pytest.raises(IntegrityError), transaction.atomic(), _ledger_sql.hot_cursor() as hot:
        assert isinstance(hot.cursor, CursorWrapper) == (connection.vendor != "postgresql")
        hot.cursor.execute(
            f"INSERT INTO {table} (account_id, batch_id, grams, internal, last_seq, last_hash) "  # noqa: S608
            "VALUES (%s, %s, 0, %s, 0, 'x')",
            [existing.account_id, existing.batch_id, True],
        )
    assert Balance.objects.get(pk=existing.pk).grams == D("39.000")


def test_a_retried_distribution_returns_the_first_entry_and_writes_nothing(member, stocked, alice, group_a):
    first = distribute(member, stocked, alice, "2", idempotency_key="desk-1")
    before = snapshot()
    assert distribute(member, stocked, alice, "2", idempotency_key="desk-1") == first
    assert snapshot() == before


def test_a_retry_after_the_allowance_is_used_up_still_returns_the_first_entry(member, stocked, alice):
    first = distribute(member, stocked, alice, "14", idempotency_key="desk-2")
    assert distribute(member, stocked, alice, "14", idempotency_key="desk-2") == first


def test_it_refuses_a_key_reused_for_a_different_distribution(member, stocked, alice):
    distribute(member, stocked, alice, "2", idempotency_key="desk-3")
    refused("idempotency_key_reused", distribute, member=member, batch=stocked, by=alice, grams="3", idempotency_key="desk-3")


def test_it_refuses_a_distribution_without_a_key(member, stocked, alice):
    refused("idempotency_key_missing", distribute, member=member, batch=stocked, by=alice, idempotency_key="")


def test_it_refuses_a_recorder_who_does_not_coordinate_the_members_group(member, stocked, bob, pat):
    refused("not_coordinator", distribute, member=member, batch=stocked, by=bob)
    refused("not_coordinator", distribute, member=member, batch=stocked, by=pat)


@pytest.mark.parametrize("grams", ["0", "-2", "0.0001"])
def test_it_refuses_a_distribution_of_no_or_negative_grams(member, stocked, alice, grams):
    refused("grams_invalid" if grams == "0.0001" else "grams_not_positive", services.distribution_record, member=member, batch=stocked, grams=grams, by=alice, idempotency_key=key())


@pytest.mark.parametrize("status", [Member.Status.SUSPENDED, Member.Status.WITHDRAWN])
def test_it_refuses_a_member_who_is_not_active(member, stocked, alice, status):
    Member.objects.filter(pk=member.pk).update(status=status)
    refused("member_not_active", distribute, member=member, batch=stocked, by=alice)


def test_it_refuses_a_member_whose_renewal_is_overdue(group_a, stocked, alice):
    today = timezone.localdate()
    member = member_in(group_a, enrolled_on=today - dt.timedelta(days=400), renewal_due=today - dt.timedelta(days=1))
    refused("renewal_overdue", distribute, member=member, batch=stocked, by=alice)


def test_it_refuses_a_member_without_consent_on_file(group_a, stocked, alice):
    member = member_in(group_a, consent_given_at=timezone.now() + dt.timedelta(days=1))
    refused("no_consent", distribute, member=member, batch=stocked, by=alice)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (Batch.Status.RECALLED, "batch_recalled"),
        (Batch.Status.ON_HOLD, "batch_on_hold"),
        (Batch.Status.QUARANTINED, "batch_not_released"),
        (Batch.Status.REJECTED, "batch_not_released"),
    ],
)
def test_it_refuses_a_batch_that_is_not_released(member, stocked, alice, status, code):
    Batch.objects.filter(pk=stocked.pk).update(status=status)
    refused(code, distribute, member=member, batch=stocked, by=alice)


def test_it_refuses_a_recalled_batch_the_group_never_held(member, alice, pat):
    batch = batch_in_central(status=Batch.Status.RECALLED)
    refused("batch_recalled", distribute, member=member, batch=batch, by=alice)


def test_it_refuses_more_than_the_group_holds(member, alice, pat, group_a):
    batch = batch_at_group(group_a, pat, grams="2.000")
    error = refused("insufficient_stock", distribute, member=member, batch=batch, by=alice, grams="2.001")
    assert "2.000 g" in error.message_text


def test_it_refuses_a_batch_the_group_never_received(member, alice):
    refused("insufficient_stock", distribute, member=member, batch=batch_in_central(), by=alice)


def test_it_refuses_grams_over_the_allowance_with_the_exact_figure(member, stocked, alice):
    distribute(member, stocked, alice, "10.250")
    error = refused("over_allowance", distribute, member=member, batch=stocked, by=alice, grams="3.751")
    assert "3.750 g" in error.message_text
    distribute(member, stocked, alice, "3.750")


def test_the_allowance_counts_the_group_policy(member, stocked, alice, group_a):
    f.AllowancePolicyFactory(substance=stocked.substance, group=group_a, max_grams=D(5))
    refused("over_allowance", distribute, member=member, batch=stocked, by=alice, grams="5.001")


def test_a_distribution_reads_the_allowance_of_its_batchs_substance_as_check_eligibility_does(member, stocked, alice, group_a, pat):
    from django.db import connection

    from distributions.eligibility import check_eligibility, eligibility_from, facts_from_rows, facts_statement

    other = batch_at_group(group_a, pat, grams="40.000")
    assert other.substance_id != stocked.substance_id
    distribute(member, other, alice, "12")
    distribute(member, stocked, alice, "2.5")
    # The facts a distribution reads cover its batch's substance only, and give that
    # substance the allowance the whole check gives it.
    at = timezone.now()
    sql, params, since, until = facts_statement(member_id=member.pk, group_id=member.group_id, since=at, substance_id=stocked.substance_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        one = eligibility_from(member, facts_from_rows(cursor.fetchall(), since, until), at)
    whole = check_eligibility(member, at)
    assert list(one.allowances) == [stocked.substance_id]
    assert one.allowances[stocked.substance_id] == whole.allowances[stocked.substance_id]
    assert whole.allowances[stocked.substance_id].remaining_grams == D("11.500")
    # The other substance's 12 g do not count against this one, nor this one's against it.
    distribute(member, stocked, alice, "11.5")
    refused("over_allowance", distribute, member=member, batch=other, by=alice, grams="2.001")


def test_a_batch_given_with_another_substance_than_it_has_stores_nothing(member, stocked, alice):
    stale = Batch.objects.get(pk=stocked.pk)
    stale.substance_id = f.SubstanceFactory().pk
    before = snapshot()
    with pytest.raises(ValueError, match="is of substance"):
        distribute(member, stale, alice, "1")
    assert snapshot() == before


def test_it_refuses_a_distribution_dated_in_the_future(member, stocked, alice):
    refused("occurred_in_future", distribute, member=member, batch=stocked, by=alice, occurred_at=timezone.now() + dt.timedelta(hours=1))


# Destruction and adjustment ------------------------------------------------------------------


def test_recalled_stock_at_a_group_can_be_destroyed_before_a_witness(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10")
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RECALLED)
    entry = destroy(batch=batch, group=group_a, grams=D(10), reason="recalled", by=pat)
    assert entry.to_account.kind == Account.Kind.DESTROYED
    assert store_grams(batch, group_a) == D(0)
    assert_ledger_ok()


def test_an_adjustment_corrects_a_store_either_way(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10")
    services.stock_adjust(batch=batch, group=group_a, grams=D("0.250"), reason="reweighed", by=pat)
    services.stock_adjust(batch=batch, group=group_a, grams=D("-1.000"), reason="spilled", by=pat)
    services.stock_adjust(batch=batch, grams=D("-2"), reason="count_error", by=pat)
    assert (store_grams(batch, group_a), store_grams(batch)) == (D("9.250"), D("488"))
    assert AuditRecord.objects.filter(action="stock.adjusted").count() == 3
    assert_ledger_ok()


def test_it_refuses_a_zero_adjustment_one_below_zero_or_without_a_reason(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10")
    refused("grams_zero", services.stock_adjust, batch=batch, group=group_a, grams=D(0), reason="reweighed", by=pat)
    refused("insufficient_stock", services.stock_adjust, batch=batch, group=group_a, grams=D("-10.001"), reason="spilled", by=pat)
    refused("reason_invalid", services.stock_adjust, batch=batch, group=group_a, grams=D(1), reason="", by=pat)


# Reversals -----------------------------------------------------------------------------------


def test_a_reversed_distribution_returns_the_grams_and_the_allowance(member, stocked, alice, group_a):
    entry = distribute(member, stocked, alice, "14")
    reversal = services.entry_reverse(entry=entry, reason="wrong_member", by=alice)
    assert (reversal.reverses, reversal.from_account, reversal.to_account) == (entry, entry.to_account, entry.from_account)
    assert store_grams(stocked, group_a) == D(40)
    distribute(member, stocked, alice, "14")
    assert_ledger_ok()


def test_it_refuses_to_reverse_twice_or_to_reverse_a_reversal(member, stocked, alice):
    entry = distribute(member, stocked, alice, "2")
    reversal = services.entry_reverse(entry=entry, reason="entered_by_mistake", by=alice)
    refused("already_reversed", services.entry_reverse, entry=entry, reason="duplicate", by=alice)
    refused("cannot_reverse_reversal", services.entry_reverse, entry=reversal, reason="duplicate", by=alice)


def test_only_the_members_coordinators_may_reverse_a_distribution(member, stocked, alice, bob):
    entry = distribute(member, stocked, alice, "2")
    refused("not_coordinator", services.entry_reverse, entry=entry, reason="duplicate", by=bob)
    refused("reason_invalid", services.entry_reverse, entry=entry, reason="I said so", by=alice)


def test_reversing_a_transfer_needs_the_stock_still_at_the_group(member, alice, pat, group_a):
    batch = batch_in_central(grams="10")
    transfer = legacy_transfer(batch, group_a, "10", pat)
    distribute(member, batch, alice, "1")
    refused("insufficient_stock", services.entry_reverse, entry=transfer, reason="wrong_store", by=pat)
    refused("not_permitted", services.entry_reverse, entry=transfer, reason="wrong_store", by=alice)


def test_every_batch_sums_to_zero_after_a_busy_day(member, stocked, alice, pat, group_a, group_b):
    transfer(batch=stocked, from_group=group_a, to_group=group_b, grams=D(5), by=pat)
    entry = distribute(member, stocked, alice, "3")
    services.entry_reverse(entry=entry, reason="wrong_grams", by=alice)
    services.stock_adjust(batch=stocked, group=group_b, grams=D("-0.5"), reason="spilled", by=pat)
    destroy(batch=stocked, grams=D(1), reason="damaged", by=pat)
    totals = {}
    for batch_id, grams in Balance.objects.values_list("batch_id", "grams"):
        totals[batch_id] = totals.get(batch_id, D(0)) + grams
    assert set(totals.values()) == {D(0)}
    assert_ledger_ok()


def test_a_backdated_distribution_must_also_fit_the_window_ending_now(member, stocked, alice):
    distribute(member, stocked, alice, "10")
    yesterday = timezone.now() - dt.timedelta(days=1)
    refused("over_allowance", distribute, member=member, batch=stocked, by=alice, grams="5", occurred_at=yesterday)
    entry = distribute(member, stocked, alice, "4", occurred_at=yesterday)
    assert entry.occurred_at == yesterday
