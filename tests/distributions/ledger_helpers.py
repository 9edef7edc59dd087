"""Building blocks for the ledger tests: released batches with stock where a test needs it."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, LedgerEntry
from distributions.verify import verify_ledger
from testing_results.models import Batch
from tests import factories as f
from tests.builders import D, transfer


def batch_in_central(*, grams="500.000", status=Batch.Status.RELEASED, by=None, **kwargs) -> Batch:
    """A batch whose intake entry put ``grams`` in the central store."""
    batch = f.BatchFactory(received_grams=D(grams), status=status, **kwargs)
    services.intake_record(batch=batch, by=by or batch.created_by)
    return batch


def batch_at_group(group, admin, *, grams="100.000", received="500.000", **kwargs) -> Batch:
    """A released batch with ``grams`` transferred to ``group``'s store."""
    batch = batch_in_central(grams=received, by=admin, **kwargs)
    transfer(batch=batch, to_group=group, grams=D(grams), by=admin)
    return batch


def handed_out_in_two_groups(group_a, group_b, alice, bob, pat):
    """A released batch: ``group_a`` holds 33.5 g and handed 6.5 g to two members (one twice, a
    mistaken handout reversed), ``group_b`` holds 25 g and handed 5 g to one member. Returns the
    batch and the three members (two of ``group_a``, then ``group_b``'s). The batch arrived two
    days ago, so that a report of something an hour ago is after its arrival at any time of day."""
    batch = batch_at_group(group_a, pat, grams="40.000", received_on=timezone.localdate() - dt.timedelta(days=2))
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


def member_in(group, **kwargs):
    """A member of ``group``. The PIN hash is a fixed string: ledger tests never check a PIN,
    and hashing one per member with the production hasher costs a second each."""
    return f.MemberFactory(group=group, pin="pbkdf2_sha256$1$ledgertest$unused", **kwargs)


def store_grams(batch, group=None) -> Decimal:
    qs = Balance.objects.filter(batch=batch)
    qs = qs.filter(account__group=group) if group is not None else qs.filter(account__kind=Account.Kind.CENTRAL)
    value = qs.values_list("grams", flat=True).first()
    return D(value or 0)


def key() -> str:
    return uuid.uuid4().hex


def entry_count() -> int:
    return LedgerEntry.objects.count()


def refuser(snapshot):
    """``refused(code, fn, **kwargs)``: call ``fn`` expecting a refusal with ``code``, and
    ``snapshot()`` the same after it as before (nothing stored). Returns the error."""

    def refused(code, fn, **kwargs):
        before = snapshot()
        with pytest.raises(ServiceError) as excinfo:
            fn(**kwargs)
        assert excinfo.value.code == code, (excinfo.value.code, excinfo.value.message_text)
        after = snapshot()
        assert after == before, ("stored despite the refusal", before, after)
        return excinfo.value

    return refused


def assert_ledger_ok():
    report = verify_ledger()
    assert report.ok, report.summary()
