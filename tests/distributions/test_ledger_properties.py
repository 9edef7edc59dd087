"""Random sequences of ledger operations never lose, create or double-count a gram.

A hypothesis state machine moves stock of one batch between the central store and two groups on
manifests (received with or without a difference, or cancelled), distributes, reverses and
adjusts it, counts stores blind and destroys before a witness, keeping its own
model of every store and of the stock in transit. After each step: each balance equals the sum
of its entries and the model, no internal balance is negative, and the batch sums to zero
across all accounts. After each sequence, ``verify_ledger`` finds every chain unbroken.
"""

import uuid
from collections import defaultdict
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, LedgerEntry, Manifest
from distributions.services.ledger import store_account
from distributions.verify import verify_ledger
from members.models import MemberGroup
from tests.distributions.ledger_helpers import D, batch_in_central, member_in
from tests.factories import PASSWORD

GRAMS = st.sampled_from(["0.001", "0.250", "1.000", "2.500", "7.000", "14.000", "40.000"]).map(D)
STORES = st.sampled_from(["central", "A", "B"])


class LedgerMachine(RuleBasedStateMachine):
    @initialize()
    def build(self):
        User = get_user_model()
        tag = uuid.uuid4().hex[:6]
        self.admin = User.objects.create(username=f"admin-{tag}", is_staff=True, is_superuser=True)
        self.witness = User.objects.create(username=f"witness-{tag}", is_staff=True, is_superuser=True,
                                           password=make_password(PASSWORD))
        self.groups = {}
        self.coordinators = {}
        self.members = {}
        for name in ("A", "B"):
            group = MemberGroup.objects.create(short_name=f"{name}{tag}", name=f"Group {name} {tag}", region="fraser")
            coordinator = User.objects.create(username=f"coord-{name}-{tag}", is_staff=True)
            group.coordinators.add(coordinator)
            self.groups[name], self.coordinators[name] = group, coordinator
            self.members[name] = [member_in(group, created_by=coordinator) for _ in range(2)]
        self.batch = batch_in_central(grams="100", by=self.admin, created_by=self.admin)
        self.model = defaultdict(lambda: D(0), {"central": D(100)})
        self.entries: list[LedgerEntry] = []
        self.on_the_road: list[Manifest] = []

    def group(self, store):
        return None if store == "central" else self.groups[store]

    def account(self, store) -> Account:
        return store_account(self.group(store))

    def expect_refusal(self, error, *allowed):
        assert error.code in allowed, f"unexpected refusal {error.code}: {error.message_text}"

    @rule(store=st.sampled_from(["A", "B"]), which=st.integers(0, 1), grams=GRAMS)
    def distribute(self, store, which, grams):
        try:
            entry = services.distribution_record(
                member=self.members[store][which], batch=self.batch, grams=grams,
                by=self.coordinators[store], idempotency_key=uuid.uuid4().hex,
            )
        except ServiceError as error:
            self.expect_refusal(error, "insufficient_stock", "over_allowance")
            return
        self.model[store] -= grams
        self.entries.append(entry)

    @rule(data=st.data())
    def reverse(self, data):
        if not self.entries:
            return
        entry = data.draw(st.sampled_from(self.entries))
        before = LedgerEntry.objects.filter(reverses=entry).exists()
        try:
            reversal = services.entry_reverse(entry=entry, reason="entered_by_mistake", by=self.admin)
        except ServiceError as error:
            self.expect_refusal(error, "already_reversed", "cannot_reverse_reversal", "insufficient_stock", "custody_entry")
            if error.code == "already_reversed":
                assert before
            return
        assert not before and entry.kind != LedgerEntry.Kind.REVERSAL
        for account_id, delta in ((reversal.from_account_id, -reversal.grams), (reversal.to_account_id, reversal.grams)):
            store = self.store_of(account_id)
            if store is not None:
                self.model[store] += delta
        self.entries.append(reversal)

    @rule(store=STORES, grams=GRAMS, negative=st.booleans())
    def adjust(self, store, grams, negative):
        signed = -grams if negative else grams
        try:
            entry = services.stock_adjust(batch=self.batch, group=self.group(store), grams=signed, reason="reweighed", by=self.admin)
        except ServiceError as error:
            self.expect_refusal(error, "insufficient_stock")
            assert negative and self.model[store] < grams
            return
        self.model[store] += signed
        self.entries.append(entry)

    @rule(source=STORES, destination=STORES, grams=GRAMS)
    def send(self, source, destination, grams):
        try:
            manifest = services.manifest_send(
                batch=self.batch, from_store=self.account(source), to_store=self.account(destination), grams=grams,
                packages=1, by=self.admin,
            )
        except ServiceError as error:
            self.expect_refusal(error, "insufficient_stock", "same_account")
            assert source == destination or self.model[source] < grams
            return
        self.model[source] -= grams
        self.model["transit"] += grams
        self.on_the_road.append(manifest)
        self.entries.append(manifest.send_entry)

    @rule(data=st.data(), difference=st.sampled_from(["0", "-0.250", "0.100", "all"]))
    def receive(self, data, difference):
        if not self.on_the_road:
            return
        manifest = data.draw(st.sampled_from(self.on_the_road))
        sent = D(manifest.grams_sent)
        grams = D(0) if difference == "all" else sent + D(difference)
        if grams < 0:
            grams = sent
        destination = self.store_of(manifest.to_store_id)
        receiver = self.admin if destination == "central" else self.coordinators[destination]
        received = services.manifest_receive(
            manifest=manifest, grams_received=grams, by=receiver, reason=None if grams == sent else "weighing_difference"
        )
        assert received.status == Manifest.Status.RECEIVED
        self.on_the_road.remove(manifest)
        self.model["transit"] -= sent
        self.model[destination] += grams
        self.entries.extend(e for e in (received.receive_entry, received.difference_entry) if e is not None)

    @rule(data=st.data())
    def cancel(self, data):
        if not self.on_the_road:
            return
        manifest = data.draw(st.sampled_from(self.on_the_road))
        cancelled = services.manifest_cancel(manifest=manifest, by=self.admin)
        self.on_the_road.remove(manifest)
        self.model["transit"] -= D(manifest.grams_sent)
        self.model[self.store_of(manifest.from_store_id)] += D(manifest.grams_sent)
        self.entries.append(cancelled.cancel_entry)
        with pytest.raises(ServiceError):
            services.manifest_receive(manifest=manifest, grams_received=manifest.grams_sent, by=self.admin)

    @rule(store=STORES, difference=st.sampled_from(["0", "-0.500", "1.250", "-all"]))
    def count(self, store, difference):
        held = self.model[store]
        counted = D(0) if difference == "-all" else max(held + D(difference), D(0))
        by = self.admin if store == "central" else self.coordinators[store]
        # Other examples' batches share the central store: they are counted as the ledger has them.
        lines = {b.batch: D(b.grams) for b in Balance.objects.filter(account=self.account(store), grams__gt=0)
                 .exclude(batch=self.batch).select_related("batch")}
        lines[self.batch] = counted
        result = services.count_record(store=self.account(store), lines=lines, by=by, witness=self.witness,
                                       witness_password=PASSWORD)
        line = result.lines.get(batch=self.batch)
        assert D(line.ledger_grams) == held
        self.model[store] = counted
        if line.entry_id:
            self.entries.append(line.entry)

    @rule(store=STORES, grams=GRAMS)
    def destroy_witnessed(self, store, grams):
        try:
            record = services.destruction_witnessed(
                batch=self.batch, store=self.account(store), grams=grams, reason="damaged", method="incineration",
                by=self.admin, witness=self.witness, witness_password=PASSWORD,
            )
        except ServiceError as error:
            self.expect_refusal(error, "insufficient_stock")
            assert self.model[store] < grams
            return
        self.model[store] -= grams
        self.entries.append(record.entry)

    def store_of(self, account_id):
        account = Account.objects.get(pk=account_id)
        if account.kind == Account.Kind.CENTRAL:
            return "central"
        if account.kind == Account.Kind.IN_TRANSIT:
            return "transit"
        for name, group in self.groups.items():
            if account.group_id == group.pk:
                return name
        return None

    def teardown(self):
        # verify_ledger reads every kind the sequence wrote (manifests sent, received with a
        # difference, cancelled, count differences, witnessed destructions) as unbroken chains.
        if hasattr(self, "batch"):
            report = verify_ledger()
            assert report.ok, report.summary()

    @invariant()
    def balances_equal_their_entries_and_the_model(self):
        if not hasattr(self, "batch"):
            return
        entries = LedgerEntry.objects.filter(batch=self.batch)
        outgoing = dict(entries.values_list("from_account").annotate(total=Sum("grams")))
        incoming = dict(entries.values_list("to_account").annotate(total=Sum("grams")))
        total = D(0)
        for balance in Balance.objects.filter(batch=self.batch).select_related("account"):
            grams = D(balance.grams)
            expected = D(incoming.get(balance.account_id, 0)) - D(outgoing.get(balance.account_id, 0))
            assert grams == expected, f"{balance.account}: balance {grams} g, entries {expected} g"
            if balance.internal:
                assert grams >= 0, f"{balance.account} is negative: {grams} g"
                assert grams == self.model[self.store_of(balance.account_id)]
            total += grams
        assert total == Decimal("0.000")


@pytest.mark.django_db
def test_random_sequences_of_ledger_operations_keep_every_gram():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
