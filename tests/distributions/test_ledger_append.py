"""``entry_append``: the primitive other services build new kinds of movement on."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, LedgerEntry
from distributions.verify import verify_ledger
from testing_results.models import Batch
from tests.distributions.ledger_helpers import D, batch_at_group, entry_count, key, member_in, store_grams

pytestmark = pytest.mark.django_db


def destroy(batch, group, by, grams="1.000", idempotency_key=None, **kw):
    """A movement written the way a new service would: its own rule, then the primitive."""
    idempotency_key = idempotency_key or key()

    def write():
        return services.entry_append(
            kind=LedgerEntry.Kind.DESTRUCTION,
            batch=batch,
            from_account=services.store_account(group),
            to_account=services.system_account(Account.Kind.DESTROYED),
            grams=D(grams),
            by=by,
            idempotency_key=idempotency_key,
            reason=LedgerEntry.DestructionReason.DAMAGED,
            audit_action="stock.destroyed",
            **kw,
        )

    return services.ledger_write(write, idempotency_key, kind=LedgerEntry.Kind.DESTRUCTION, batch_id=batch.pk)


def test_it_appends_an_entry_onto_the_chain_moves_the_stock_and_audits(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10.000")
    audits = AuditRecord.objects.count()
    entry = destroy(batch, group_a, pat, grams="2.500")
    assert store_grams(batch, group_a) == Decimal("7.500")
    # The group store's chain: the transfer that filled it is on the central store's.
    assert (entry.chain, entry.chain_seq) == (f"{services.store_account(group_a).pk}.{batch.pk}", 1)
    assert entry.hash == entry.compute_hash()
    assert AuditRecord.objects.count() == audits + 1
    assert AuditRecord.objects.first().action == "stock.destroyed"
    report = verify_ledger()
    assert report.ok, report.summary()


def test_a_retry_with_the_same_key_returns_the_first_entry_and_writes_nothing(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10.000")
    first = destroy(batch, group_a, pat, idempotency_key="destroy-1")
    count = entry_count()
    assert destroy(batch, group_a, pat, idempotency_key="destroy-1").pk == first.pk
    assert entry_count() == count and store_grams(batch, group_a) == Decimal("9.000")


def test_it_refuses_a_key_used_for_another_movement(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="10.000")
    transfer = LedgerEntry.objects.get(batch=batch, kind=LedgerEntry.Kind.MANIFEST_RECEIVE)
    with pytest.raises(ServiceError) as excinfo:
        destroy(batch, group_a, pat, idempotency_key=transfer.idempotency_key)
    assert excinfo.value.code == "idempotency_key_reused"


def test_it_refuses_more_than_the_store_holds_and_stores_nothing(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="1.000")
    count = entry_count()
    with pytest.raises(ServiceError) as excinfo:
        destroy(batch, group_a, pat, grams="1.001")
    assert excinfo.value.code == "insufficient_stock"
    assert entry_count() == count and store_grams(batch, group_a) == Decimal("1.000")


def test_it_refuses_a_batch_that_is_not_released_when_asked_to(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="1.000")
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RECALLED)
    with pytest.raises(ServiceError) as excinfo:
        destroy(batch, group_a, pat, require_released=True)
    assert excinfo.value.code == "batch_recalled"
    assert destroy(batch, group_a, pat).kind == LedgerEntry.Kind.DESTRUCTION


@pytest.mark.django_db(transaction=True)
def test_it_runs_only_inside_the_callers_transaction(group_a, pat):
    batch = batch_at_group(group_a, pat, grams="1.000")
    with pytest.raises(RuntimeError):
        services.entry_append(
            kind=LedgerEntry.Kind.DESTRUCTION, batch=batch, from_account=services.store_account(group_a),
            to_account=services.system_account(Account.Kind.DESTROYED), grams=D("1"), by=pat,
            idempotency_key=key(), reason=LedgerEntry.DestructionReason.DAMAGED,
        )


def test_a_distribution_issues_the_same_statements_however_long_the_members_history(group_a, alice, pat):
    batch = batch_at_group(group_a, pat, grams="50.000")
    fresh, regular = member_in(group_a), member_in(group_a)
    for _ in range(10):
        services.distribution_record(member=regular, batch=batch, grams=D("0.5"), by=alice, idempotency_key=key())

    def statements(member):
        with CaptureQueriesContext(connection) as captured:
            services.distribution_record(member=member, batch=batch, grams=D("0.5"), by=alice, idempotency_key=key())
        return len(captured.captured_queries)

    statements(fresh)  # the coordinator's groups are cached on the user from here on
    # PostgreSQL: lock the member; lock the store's balance and read the facts; insert and move
    # the balances; plus the savepoint pair of the test's transaction. SQLite a few more.
    assert statements(fresh) == statements(regular)
