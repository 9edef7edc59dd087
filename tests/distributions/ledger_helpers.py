"""Building blocks for the ledger tests: released batches with stock where a test needs it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from distributions import services
from distributions.models import Account, Balance, LedgerEntry
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
