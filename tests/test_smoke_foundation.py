import pytest

from tests import factories as f


@pytest.mark.django_db
def test_factories_build_every_model():
    for factory in [
        f.MemberStatusChangeFactory, f.FindingFactory, f.BatchStatusChangeFactory,
        f.LedgerEntryFactory, f.BalanceFactory, f.AllowancePolicyFactory,
        f.AllowanceOverrideFactory, f.AuditRecordFactory,
    ]:
        assert factory().pk
