"""factory-boy factories for every model.

These write rows directly, for tests of constraints, admin pages and read paths. Tests of
behaviour go through the services, which is what the factories' ``*_via_service`` helpers in
the app test modules do.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from distributions.models import Account, AllowanceOverride, AllowancePolicy, Balance, LedgerEntry
from members.codes import generate_code
from members.models import Member, MemberGroup, MemberStatusChange, Region
from testing_results.models import (
    Batch,
    BatchStatusChange,
    Compound,
    DrugCheck,
    Finding,
    Instrument,
    Method,
    StripLot,
    Substance,
)

# Every factory-made user's password: a witness or an approver types it in tests.
PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            from django.contrib.auth.models import Group

            self.groups.add(*Group.objects.filter(name__in=extracted))
        if create:
            self.save()


class MemberGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemberGroup
        django_get_or_create = ("short_name",)
        skip_postgeneration_save = True

    short_name = factory.Sequence(lambda n: f"G{n}")
    name = factory.LazyAttribute(lambda o: f"{o.short_name} peer group")
    region = Region.VANCOUVER_COASTAL

    @factory.post_generation
    def coordinators(self, create, extracted, **kwargs):
        if create and extracted:
            self.coordinators.add(*extracted)


@functools.cache
def default_pin_hash() -> str:
    """The PIN 482915 hashed with PBKDF2, once per test process: hashing it anew for every
    member cost most of a second each, and a salt of its own per member tests nothing. A
    thousand rounds, not the hasher's million: the hash keeps its rounds, so every check of this
    PIN (each status-page login, each desk PIN) would otherwise cost most of a second again."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode("482915", hasher.salt(), iterations=1000)


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    code = factory.LazyFunction(generate_code)
    group = factory.SubFactory(MemberGroupFactory)
    status = Member.Status.ACTIVE
    enrolled_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))
    renewal_due = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=335))
    consent_version = "2022-04"
    consent_given_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    age_attested = True
    pin = factory.LazyFunction(default_pin_hash)
    created_by = factory.SubFactory(UserFactory)


class MemberStatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemberStatusChange

    member = factory.SubFactory(MemberFactory)
    from_status = Member.Status.ACTIVE
    to_status = Member.Status.SUSPENDED
    reason = MemberStatusChange.Reason.SAFETY
    changed_by = factory.SubFactory(UserFactory)
    changed_at = factory.LazyFunction(timezone.now)


class CompoundFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Compound
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"compound {n}")
    category = Compound.Category.CUT
    drug_class = Compound.DrugClass.OTHER


class SubstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Substance
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"substance {n}")
    expected_compound = factory.SubFactory(
        CompoundFactory,
        name=factory.LazyAttribute(lambda o: f"{o.factory_parent.name} (active)"),
        category=Compound.Category.ACTIVE,
    )


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch

    code = factory.Sequence(lambda n: f"B-TEST-{n:05d}")
    substance = factory.SubFactory(SubstanceFactory)
    received_on = factory.LazyFunction(timezone.localdate)
    received_grams = Decimal("500.000")
    best_before = factory.LazyAttribute(lambda o: o.received_on + dt.timedelta(days=365))
    status = Batch.Status.QUARANTINED
    status_changed_at = factory.LazyFunction(timezone.now)
    created_by = factory.SubFactory(UserFactory)


class BatchStatusChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BatchStatusChange

    batch = factory.SubFactory(BatchFactory)
    from_status = Batch.Status.QUARANTINED
    to_status = Batch.Status.RELEASED
    changed_by = factory.SubFactory(UserFactory)
    changed_at = factory.LazyFunction(timezone.now)
    reason = "All checks passed."


def seeded_methods() -> dict[str, Method]:
    """The three methods migration 0006 seeds. A transactional test (the browser's live server)
    flushes the tables after it, data migrations' rows included, so factories put them back."""
    from testing_results.models import MethodCapability
    from testing_results.rules import BUILT_IN_METHODS, DEFAULT_CAPABILITIES

    methods = {
        code: Method.objects.get_or_create(
            code=code, defaults={"name": info.name, "kind": info.kind, "quantifies": info.quantifies, "required": True}
        )[0]
        for code, info in BUILT_IN_METHODS.items()
    }
    if not MethodCapability.objects.exists():  # migration 0003's rows, gone with the flush too
        MethodCapability.objects.bulk_create(
            MethodCapability(method_id=m, drug_class=c, can_rule_out=ok, required=req, note=note)
            for (m, c), (ok, req, note) in DEFAULT_CAPABILITIES.items()
        )
    return methods


INSTRUMENT_MODELS = {"ftir": "Bruker Alpha II", "mass_spec": "Agilent 6546 LC/Q-TOF"}


class InstrumentFactory(factory.django.DjangoModelFactory):
    """One verified instrument per method unless a serial is given."""

    class Meta:
        model = Instrument
        django_get_or_create = ("method_id", "serial")

    class Params:
        method = DrugCheck.Method.FTIR  # a method's code: the row points at the method by it

    method_id = factory.SelfAttribute("method")
    make_model = factory.LazyAttribute(lambda o: INSTRUMENT_MODELS.get(o.method, "Bench instrument"))
    serial = factory.LazyAttribute(lambda o: f"TEST-{o.method}")
    library = "Test library"
    library_version = "1"
    verified_until = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=365))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        seeded_methods()
        return super()._create(model_class, *args, **kwargs)


class StripLotFactory(factory.django.DjangoModelFactory):
    """One lot in date per target class unless a lot number is given (FIELD-NOTES.md: BTNX's
    fentanyl lot has a 20 ng/mL cut-off)."""

    class Meta:
        model = StripLot
        django_get_or_create = ("maker", "lot_number", "drug_class")

    maker = "BTNX Rapid Response"
    drug_class = Compound.DrugClass.FENTANYL
    lot_number = factory.LazyAttribute(lambda o: f"TEST-{o.drug_class}")
    cutoff_ng_ml = Decimal("20.00")
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=365))


class DrugCheckFactory(factory.django.DjangoModelFactory):
    """A check naming what produced it: an instrument of its method, or for a strip a lot."""

    class Meta:
        model = DrugCheck

    class Params:
        method = DrugCheck.Method.FTIR  # a method's code
        strip = factory.LazyAttribute(lambda o: o.method == DrugCheck.Method.IMMUNOASSAY)

    batch = factory.SubFactory(BatchFactory)
    method_id = factory.SelfAttribute("method")
    performed_at = factory.LazyFunction(timezone.now)
    performed_by = factory.SubFactory(UserFactory)
    lab = "Bruker Alpha II"
    sample_mg = Decimal("10.000")
    instrument = factory.Maybe("strip", None, factory.SubFactory(InstrumentFactory, method=factory.SelfAttribute("..method")))
    strip_lot = factory.Maybe("strip", factory.SubFactory(StripLotFactory), None)


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    drug_check = factory.SubFactory(DrugCheckFactory)
    compound = factory.SubFactory(CompoundFactory)
    result = Finding.Result.NOT_DETECTED
    concentration_pct = None


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account
        django_get_or_create = ("kind", "group")

    kind = Account.Kind.GROUP
    group = factory.SubFactory(MemberGroupFactory)


def _fake_hash() -> str:
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    """Raw rows for constraint and admin tests; they do not form a valid chain."""

    class Meta:
        model = LedgerEntry

    kind = LedgerEntry.Kind.TRANSFER
    batch = factory.SubFactory(BatchFactory)
    from_account = factory.LazyFunction(lambda: Account.objects.get_or_create(kind=Account.Kind.CENTRAL, group=None)[0])
    to_account = factory.SubFactory(AccountFactory)
    grams = Decimal("10.000")
    member = None
    recorded_by = factory.SubFactory(UserFactory)
    recorded_at = factory.LazyFunction(timezone.now)
    occurred_at = factory.LazyFunction(timezone.now)
    idempotency_key = factory.LazyFunction(lambda: uuid.uuid4().hex)
    reason = ""
    chain = "test"
    chain_seq = factory.Sequence(lambda n: n + 1)
    prev_hash = factory.LazyFunction(_fake_hash)
    hash = factory.LazyFunction(_fake_hash)


class BalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Balance

    account = factory.SubFactory(AccountFactory)
    batch = factory.SubFactory(BatchFactory)
    grams = Decimal("0.000")
    internal = True


class AllowancePolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AllowancePolicy

    substance = factory.SubFactory(SubstanceFactory)
    group = None
    window_days = 7
    max_grams = Decimal("14.000")
    created_by = factory.SubFactory(UserFactory)


class AllowanceOverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AllowanceOverride

    member = factory.SubFactory(MemberFactory)
    substance = factory.SubFactory(SubstanceFactory)
    max_grams = Decimal("21.000")
    valid_from = factory.LazyFunction(timezone.now)
    valid_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))
    reason = AllowanceOverride.Reason.TRAVEL
    requested_by = factory.SubFactory(UserFactory)
    approved_by = factory.SubFactory(UserFactory)


class AuditRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditRecord

    seq = factory.Sequence(lambda n: n + 1_000_000)
    created_at = factory.LazyFunction(timezone.now)
    action = "test.action"
    prev_hash = factory.LazyFunction(_fake_hash)
    hash = factory.LazyFunction(_fake_hash)
