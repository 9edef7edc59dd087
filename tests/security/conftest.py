"""One dataset for the security tests: two groups (VANDU with alice, SOLID with bob), a member
of each with status history, stock in each group's store, distributions, allowance rows, a
released batch with its checks, and an audit record; plus one user per role."""

from __future__ import annotations

import pytest

from compassionclub.audit.services import audit_log
from distributions.models import Account, LedgerEntry
from members.codes import format_code
from testing_results.models import Batch
from tests import factories as f
from tests.distributions import custody_constraint_cases as custody_cases


@pytest.fixture
def dataset(group_a, group_b, alice, bob, pat):
    substance = f.SubstanceFactory(name="Heroin")
    batch = f.BatchFactory(substance=substance, status=Batch.Status.RELEASED)
    check = f.DrugCheckFactory(batch=batch)
    f.FindingFactory(drug_check=check, compound=substance.expected_compound)
    f.BatchStatusChangeFactory(batch=batch)
    central = Account.objects.get_or_create(kind=Account.Kind.CENTRAL, group=None)[0]
    members_account = Account.objects.get_or_create(kind=Account.Kind.MEMBERS, group=None)[0]
    f.AllowancePolicyFactory(substance=substance, created_by=pat)
    data = {"batch": batch, "substance": substance}
    for key, group, coordinator in (("a", group_a, alice), ("b", group_b, bob)):
        member = f.MemberFactory(group=group, created_by=coordinator)
        f.MemberStatusChangeFactory(member=member, changed_by=coordinator)
        store = f.AccountFactory(kind=Account.Kind.GROUP, group=group)
        f.LedgerEntryFactory(batch=batch, from_account=central, to_account=store, recorded_by=pat)
        f.LedgerEntryFactory(
            kind=LedgerEntry.Kind.DISTRIBUTION, batch=batch, from_account=store, to_account=members_account,
            member=member, grams="3.500", recorded_by=coordinator,
        )
        f.BalanceFactory(account=store, batch=batch, grams="6.500")
        custody_cases.manifest(batch=batch, from_store=central, to_store=store, sent_by=pat)
        f.AllowanceOverrideFactory(member=member, substance=substance, requested_by=coordinator, approved_by=pat)
        audit_log(action="member.enrolled", actor=coordinator, target=member, new={"group": group.short_name, "pin": "123456"})
        data[f"member_{key}"] = member
        data[f"group_{key}"] = group
        data[f"codes_{key}"] = {member.code, format_code(member.code)}
    return data
