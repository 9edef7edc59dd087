"""Every named constraint is held by the database itself: a violating row written straight
through the ORM (no form, no service, no model validation) is refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from distributions.models import Account, LedgerEntry
from members.models import Member
from tests import factories as f
from tests.distributions.custody_constraint_cases import CASES as CUSTODY_CASES
from tests.recalls import factories as rf

PROJECT_APPS = {"audit", "members", "testing_results", "distributions", "recalls"}


def _capability():
    # Rows are seeded by testing_results migration 0003.
    return apps.get_model("testing_results", "MethodCapability").objects


def _entry(**kw):
    return f.LedgerEntryFactory(**kw)


def _instrument(**kw):
    fields = {"method_id": "ftir", "make_model": "Bruker Alpha II", "serial": "A-1", "verified_until": dt.date(2027, 1, 1), **kw}
    return apps.get_model("testing_results", "Instrument").objects.create(**fields)


def _method(**kw):
    fields = {"code": "hplc", "name": "HPLC", "kind": "spectrum", **kw}
    return apps.get_model("testing_results", "Method").objects.create(**fields)


def _detection_limit(**kw):
    fields = {"method_id": "mass_spec", "limit_pct": Decimal("0.1"), **kw}
    return apps.get_model("testing_results", "DetectionLimit").objects.create(**fields)


def _reference_policy(**kw):
    return apps.get_model("testing_results", "ReferenceSamplePolicy").objects.create(**{"pk": 1, **kw})


def _lot(**kw):
    fields = {"maker": "BTNX", "lot_number": "FYL-1", "drug_class": "fentanyl", "cutoff_ng_ml": Decimal("20"),
              "expires_on": dt.date(2027, 1, 1), **kw}
    return apps.get_model("testing_results", "StripLot").objects.create(**fields)


def _self_invalidated_check():
    check = f.DrugCheckFactory()
    type(check).objects.filter(pk=check.pk).update(
        invalidated_at=timezone.now(), invalidated_by=check.performed_by, invalidation_reason="other"
    )


def _check_replacing_itself():
    check = f.DrugCheckFactory()
    type(check).objects.filter(pk=check.pk).update(replaces=check)


def _reversal_twice():
    original = _entry()
    _entry(kind="reversal", reverses=original, reason="typo", from_account=original.to_account, to_account=original.from_account)
    _entry(kind="reversal", reverses=original, reason="typo again", from_account=original.to_account, to_account=original.from_account)


def _second_notice_for_a_group():
    first = rf.notice()
    rf.notice(status_change=first.status_change, group=first.group)


def _replacement_of_itself():
    entry = _entry()
    rf.Replacement.objects.create(entry=entry, replaces=entry)


def _replacement_twice_in_one_place():
    replaces = _entry()
    rf.Replacement.objects.create(entry=_entry(), replaces=replaces)
    rf.Replacement.objects.create(entry=_entry(), replaces=replaces)


def _second_told():
    first = rf.told()
    rf.told(member=first.member, batch=first.batch)


def _duplicate_entry_field(field):
    first = _entry()
    _entry(**{field: getattr(first, field)})


def _duplicate_system_account():
    Account.objects.create(kind=Account.Kind.LAB)
    Account.objects.create(kind=Account.Kind.LAB)


def _duplicate_policy():
    policy = f.AllowancePolicyFactory()
    f.AllowancePolicyFactory(substance=policy.substance)


def _duplicate_group_policy():
    group = f.MemberGroupFactory()
    policy = f.AllowancePolicyFactory(group=group)
    f.AllowancePolicyFactory(substance=policy.substance, group=group)


def _duplicate_finding():
    finding = f.FindingFactory()
    f.FindingFactory(drug_check=finding.drug_check, compound=finding.compound)


def _duplicate_balance():
    balance = f.BalanceFactory()
    f.BalanceFactory(account=balance.account, batch=balance.batch)


def _duplicate_chain_seq():
    entry = _entry()
    _entry(chain=entry.chain, chain_seq=entry.chain_seq)


def _self_approved_override():
    user = f.UserFactory()
    f.AllowanceOverrideFactory(requested_by=user, approved_by=user)


def _member_renewal_before_enrolment():
    today = timezone.localdate()
    f.MemberFactory(enrolled_on=today, renewal_due=today - dt.timedelta(days=1))


def _batch_best_before_receipt():
    today = timezone.localdate()
    f.BatchFactory(received_on=today, best_before=today - dt.timedelta(days=1))


def _override_period_backwards():
    now = timezone.now()
    f.AllowanceOverrideFactory(valid_from=now, valid_until=now - dt.timedelta(hours=1))


def _status_change_same_status():
    f.BatchStatusChangeFactory(from_status="released", to_status="released")


def _chain_head_second_row():
    from compassionclub.audit.models import AuditChainHead

    AuditChainHead.objects.create(id=2)


def _retired_code(**kwargs):
    from members.models import RetiredCode

    member = f.MemberFactory()
    values = {"code": "0" * 12, "member": member, "reason": "lost", "retired_at": timezone.now(),
              "retired_by": member.created_by, **kwargs}
    return RetiredCode.objects.create(**values)


CASES = {
    # recalls
    "recallnotice_one_per_group_per_change": _second_notice_for_a_group,
    "recallnotice_kind_valid": lambda: rf.notice(kind="released"),
    "recallnotice_acknowledged_by_and_at": lambda: rf.notice(acknowledged_at=timezone.now()),
    "recallnotice_grams_not_negative": lambda: rf.notice(store_grams=Decimal("-1")),
    "membertold_once_per_batch": _second_told,
    "membertold_event_valid": lambda: rf.told(event="gossip"),
    "replacement_not_itself": _replacement_of_itself,
    "replacement_sequence_unique": _replacement_twice_in_one_place,
    "replacement_sequence_positive": lambda: rf.Replacement.objects.create(entry=_entry(), replaces=_entry(), sequence=0),
    "adverseevent_outcome_valid": lambda: rf.adverse(outcome="sneezing"),
    "adverseevent_severity_valid": lambda: rf.adverse(severity="awful"),
    "adverseevent_severe_outcome_is_severe": lambda: rf.adverse(outcome="death", severity="mild"),
    "adverseeventthreshold_single_row": lambda: rf.threshold(id=2),
    "adverseeventthreshold_count_positive": lambda: rf.threshold(moderate_count=0),
    "adverseeventthreshold_window_positive": lambda: rf.threshold(window_days=0),
    # members
    "membergroup_region_valid": lambda: f.MemberGroupFactory(region="atlantis"),
    "membergroup_short_name_not_empty": lambda: f.MemberGroupFactory(short_name=""),
    "member_status_valid": lambda: f.MemberFactory(status="sleeping"),
    "member_age_attested": lambda: f.MemberFactory(age_attested=False),
    "member_renewal_after_enrolment": _member_renewal_before_enrolment,
    "member_consent_version_not_empty": lambda: f.MemberFactory(consent_version=""),
    "member_consent_given_at_set": lambda: f.MemberFactory(consent_given_at=None),
    "member_forgotten_only_when_withdrawn": lambda: f.MemberFactory(forgotten_at=timezone.now(), consent_version=""),
    "member_pin_not_empty": lambda: f.MemberFactory(pin=""),
    "member_code_format": lambda: f.MemberFactory(code="ilou12345678"),
    "retiredcode_code_format": lambda: _retired_code(code="ilou12345678"),
    "retiredcode_reason_valid": lambda: _retired_code(reason="forgot"),
    "memberstatuschange_to_status_valid": lambda: f.MemberStatusChangeFactory(to_status="gone"),
    "memberstatuschange_reason_valid": lambda: f.MemberStatusChangeFactory(reason="because"),
    # testing_results
    "compound_category_valid": lambda: f.CompoundFactory(category="spicy"),
    "compound_name_not_empty": lambda: f.CompoundFactory(name=""),
    "batch_received_grams_positive": lambda: f.BatchFactory(received_grams=Decimal("0.000")),
    "batch_status_valid": lambda: f.BatchFactory(status="lost"),
    "batch_best_before_after_receipt": _batch_best_before_receipt,
    "batchstatuschange_reason_not_empty": lambda: f.BatchStatusChangeFactory(reason=""),
    "batchstatuschange_changes_status": _status_change_same_status,
    "drugcheck_sample_mg_not_negative": lambda: f.DrugCheckFactory(sample_mg=Decimal("-1.000")),
    "finding_one_per_compound_per_check": _duplicate_finding,
    "drugcheck_strip_lot_only_for_strips": lambda: f.DrugCheckFactory(method="ftir", strip_lot=_lot()),
    "drugcheck_no_instrument_for_strips": lambda: f.DrugCheckFactory(method="immunoassay", instrument=_instrument()),
    "drugcheck_invalidation_complete": lambda: f.DrugCheckFactory(invalidated_at=timezone.now()),
    "drugcheck_invalidated_by_another": _self_invalidated_check,
    "drugcheck_does_not_replace_itself": _check_replacing_itself,
    "instrument_serial_unique_per_method": lambda: (_instrument(), _instrument()),
    "instrument_serial_not_empty": lambda: _instrument(serial=""),
    "instrument_verified_until_required": lambda: _instrument(verified_until=None),
    "striplot_unique": lambda: (_lot(), _lot()),
    "striplot_lot_number_not_empty": lambda: _lot(lot_number=""),
    "striplot_recorded_fields_required": lambda: _lot(cutoff_ng_ml=Decimal("0")),
    "finding_result_valid": lambda: f.FindingFactory(result="maybe"),
    "finding_concentration_pct_range": lambda: f.FindingFactory(concentration_pct=Decimal("100.500")),
    "method_code_not_empty": lambda: _method(code=""),
    "method_kind_valid": lambda: _method(kind="taste"),
    "method_strip_does_not_quantify": lambda: _method(kind="strip", quantifies=True),
    "detectionlimit_pct_range": lambda: _detection_limit(limit_pct=Decimal("0")),
    "detectionlimit_compound_or_class": lambda: _detection_limit(compound=f.CompoundFactory(), drug_class="fentanyl"),
    "detectionlimit_ftir_floor": lambda: _detection_limit(method_id="ftir", drug_class="fentanyl", limit_pct=Decimal("1")),
    "methodcapability_one_per_method_class": lambda: _capability().create(method_id="ftir", drug_class="fentanyl", can_rule_out=False),
    "methodcapability_ftir_never_rules_out_potent_classes": lambda: _capability().filter(method="ftir", drug_class="nitazene").update(can_rule_out=True),
    "methodcapability_required_can_rule_out": lambda: _capability().filter(method="immunoassay", drug_class="opioid").update(required=True),
    "referencesamplepolicy_single_row": lambda: _reference_policy(pk=2),
    "referencesamplepolicy_grams_range": lambda: _reference_policy(grams=Decimal("-1")),
    # distributions
    "account_kind_valid": lambda: Account.objects.create(kind="bank"),
    "account_group_iff_group_kind": lambda: Account.objects.create(kind=Account.Kind.GROUP, group=None),
    "account_one_per_system_kind": _duplicate_system_account,
    "ledgerentry_grams_positive": lambda: _entry(grams=Decimal("0.000")),
    "ledgerentry_accounts_differ": lambda: _entry(to_account=Account.objects.get_or_create(kind=Account.Kind.CENTRAL, group=None)[0]),
    "ledgerentry_kind_valid": lambda: _entry(kind="gift"),
    "ledgerentry_member_iff_distribution": lambda: _entry(kind=LedgerEntry.Kind.DISTRIBUTION, member=None),
    "ledgerentry_reverses_iff_reversal": lambda: _entry(kind=LedgerEntry.Kind.REVERSAL, reverses=None, reason="x"),
    "ledgerentry_reason_required": lambda: _entry(kind=LedgerEntry.Kind.ADJUSTMENT, reason=""),
    "ledgerentry_idempotency_key_not_empty": lambda: _entry(idempotency_key=""),
    "ledgerentry_chain_seq_unique": _duplicate_chain_seq,
    "ledgerentry_idempotency_key_unique": lambda: _duplicate_entry_field("idempotency_key"),
    "ledgerentry_hash_unique": lambda: _duplicate_entry_field("hash"),
    "ledgerentry_reverses_key": _reversal_twice,
    "balance_one_per_account_batch": _duplicate_balance,
    "balance_internal_not_negative": lambda: f.BalanceFactory(grams=Decimal("-0.001"), internal=True),
    "allowancepolicy_window_positive": lambda: f.AllowancePolicyFactory(window_days=0),
    "allowancepolicy_max_grams_positive": lambda: f.AllowancePolicyFactory(max_grams=Decimal("0.000")),
    "allowancepolicy_one_default_per_substance": _duplicate_policy,
    "allowancepolicy_one_per_group_substance": _duplicate_group_policy,
    "allowanceoverride_max_grams_positive": lambda: f.AllowanceOverrideFactory(max_grams=Decimal("0.000")),
    "allowanceoverride_valid_period": _override_period_backwards,
    "allowanceoverride_second_coordinator": _self_approved_override,
    "allowanceoverride_reason_valid": lambda: f.AllowanceOverrideFactory(reason="bored"),
    # audit
    "audit_chainhead_single_row": _chain_head_second_row,
    "audit_record_seq_positive": lambda: f.AuditRecordFactory(seq=0),
    "audit_record_action_not_empty": lambda: f.AuditRecordFactory(action=""),
    **CUSTODY_CASES,
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_database_refuses_a_row_that_breaks(name):
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        CASES[name]()
    message = str(excinfo.value)
    # Both databases name a violated CHECK constraint; SQLite names a UNIQUE one by columns,
    # and the one-to-one "reverses" key is named by Django, not by us.
    if name == "ledgerentry_reverses_key":
        assert "reverses" in message
    elif message.startswith("CHECK constraint failed") or connection.vendor == "postgresql":
        assert name in message


def _named_constraints():
    names = set()
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS:
            names |= {c.name for c in model._meta.constraints}
    return names


def test_every_named_constraint_has_a_case():
    missing = _named_constraints() - set(CASES) - {"ledgerentry_reverses_key"}
    assert not missing, f"constraints without a test case: {sorted(missing)}"


@pytest.mark.django_db
def test_a_valid_member_row_is_accepted():
    # The cases above fail for the reason they name, not because every row is refused.
    assert f.MemberFactory().status == Member.Status.ACTIVE
