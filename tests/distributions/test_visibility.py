"""One answer to "what may this user see", whichever surface asks.

One dataset holds every kind of movement across groups: intake, transfers from the central
store to two groups, between the groups and back to the central store, a third group nobody
here coordinates, distributions in each group, a reversed distribution, a destruction, an
adjustment and a quarantined batch. For each role, every surface (admin lists, desk, exports,
dashboard, batch page) shows exactly the rows the selectors in ``distributions.visibility``
give, and the selectors give what the rules say.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from distributions import selectors, services
from distributions.dashboard import stock_on_hand, weekly_grams
from distributions.desk.views import find_member
from distributions.exports.base import LOCAL_TZ, get_exporter
from distributions.exports.batch_reports import batch_record
from distributions.exports.forms import ExportForm
from distributions.exports.services import may_export
from distributions.models import Account, Balance, LedgerEntry, Manifest
from distributions.visibility import (
    batches_visible_to,
    entries_visible_to,
    manifests_visible_to,
    members_visible_to,
    stock_visible_to,
)
from members.models import Member
from testing_results.models import Batch
from tests import factories as f
from tests.builders import destroy, transfer
from tests.distributions.ledger_helpers import D, batch_in_central, key, member_in
from tests.exports.helpers import run_csv

ROLES = ["alice", "bob", "charlie", "dana", "erin", "pat", "root"]


@pytest.fixture
def movements(group_a, group_b, alice, bob, pat):
    group_c = f.MemberGroupFactory(short_name="CSUN")
    carl = f.UserFactory(username="carl")
    group_c.coordinators.add(carl)
    batch = batch_in_central(grams="500.000", by=pat)
    other = batch_in_central(grams="100.000", by=pat)
    waiting = batch_in_central(grams="50.000", by=pat, status=Batch.Status.QUARANTINED)
    transfer(batch=batch, to_group=group_a, grams=D("40"), by=pat)
    transfer(batch=batch, to_group=group_b, grams=D("30"), by=pat)
    transfer(batch=batch, from_group=group_a, to_group=group_b, grams=D("5"), by=pat)
    transfer(batch=batch, from_group=group_b, grams=D("2"), by=pat)
    transfer(batch=other, to_group=group_c, grams=D("20"), by=pat)
    a1, a2, b1, c1 = member_in(group_a), member_in(group_a), member_in(group_b), member_in(group_c)
    give = services.distribution_record
    give(member=a1, batch=batch, grams=Decimal("2.000"), by=alice, idempotency_key=key())
    mistake = give(member=a2, batch=batch, grams=Decimal("1.000"), by=alice, idempotency_key=key())
    services.entry_reverse(entry=mistake, reason="entered_by_mistake", by=alice)
    give(member=b1, batch=batch, grams=Decimal("3.000"), by=bob, idempotency_key=key())
    give(member=c1, batch=other, grams=Decimal("4.000"), by=carl, idempotency_key=key())
    destroy(batch=batch, group=group_a, grams=D("1"), reason="damaged", by=pat)
    services.stock_adjust(batch=batch, group=group_b, grams=D("-0.5"), reason="spilled", by=pat)
    return {"batches": [batch, other, waiting], "groups": [group_a, group_b, group_c]}


def _ids(qs) -> set[int]:
    return set(qs.values_list("pk", flat=True))


def _changelist_ids(client, model) -> set[int] | None:
    opts = model._meta
    response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    if response.status_code == 403:
        return None
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def _distributions(entries) -> set[int]:
    return {e.pk for e in entries if e.kind == LedgerEntry.Kind.DISTRIBUTION and not hasattr(e, "reversed_by")}


@pytest.mark.django_db
def test_the_selectors_follow_the_rules(movements, alice, bob, charlie, dana, erin, pat, group_a, group_b):
    stores = {g: Account.objects.get(group=g).pk for g in (group_a, group_b)}

    def touching(group):
        return {e.pk for e in LedgerEntry.objects.all() if stores[group] in (e.from_account_id, e.to_account_id)}

    assert _ids(entries_visible_to(alice)) == touching(group_a)
    assert _ids(entries_visible_to(bob)) == touching(group_b)
    # The manifest from VANDU to SOLID shows to both coordinators; its sending to VANDU's, its
    # receipt to SOLID's.
    between = Manifest.objects.get(from_store=stores[group_a], to_store=stores[group_b])
    assert between.pk in _ids(manifests_visible_to(alice)) & _ids(manifests_visible_to(bob))
    assert between.send_entry_id in _ids(entries_visible_to(alice)) - _ids(entries_visible_to(bob))
    assert between.receive_entry_id in _ids(entries_visible_to(bob)) - _ids(entries_visible_to(alice))
    for user in (charlie, pat):
        assert _ids(entries_visible_to(user)) == _ids(LedgerEntry.objects.all())
        assert _ids(members_visible_to(user)) == _ids(Member.objects.all())
    for user in (dana, erin):
        assert not entries_visible_to(user).exists() and not members_visible_to(user).exists()
        # Stock is not member data: those who decide on batches see every store.
        assert _ids(stock_visible_to(user)) == _ids(Balance.objects.all())
    assert _ids(members_visible_to(alice)) == _ids(Member.objects.filter(group=group_a))
    assert _ids(stock_visible_to(alice)) == _ids(Balance.objects.filter(account__group=group_a))
    for user in (alice, bob, charlie, dana, erin, pat):
        assert _ids(batches_visible_to(user)) == _ids(Batch.objects.all())


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_surface_shows_the_same_rows_as_the_selectors(client, request, role, movements):
    user = request.getfixturevalue(role)
    client.force_login(user)
    entries = _ids(entries_visible_to(user))
    members = _ids(members_visible_to(user))
    stock = _ids(stock_visible_to(user))
    batches = _ids(batches_visible_to(user))
    handed_out = _distributions(entries_visible_to(user).select_related("reversed_by"))

    # Admin lists.
    for model, expected in ((LedgerEntry, entries), (Member, members), (Balance, stock), (Batch, batches)):
        shown = _changelist_ids(client, model)
        assert shown is None or shown == expected, model
    assert (_changelist_ids(client, Balance) is not None) == user.has_perm("distributions.view_balance")

    # The desk finds exactly the members the user may see.
    if user.has_perm("distributions.record_distribution"):
        found = {m.pk for m in Member.objects.all() if find_member(user, m.code) is not None}
        assert found == members

    # Exports.
    # Each export has its own permission: a release officer runs the batch test report only.
    if may_export(user, "ledger"):
        ledger_rows = [r for r in run_csv("ledger", user) if r["entry_id"].isdigit()]
        assert {int(r["entry_id"]) for r in ledger_rows} == entries
    if may_export(user, "distribution_summary"):
        summary_groups = {r["group"] for r in run_csv("distribution_summary", user)}
        assert summary_groups == set(
            LedgerEntry.objects.filter(pk__in=handed_out).values_list("from_account__group__short_name", flat=True)
        )
    if may_export(user, "batch_report"):
        form = ExportForm(exporter_class=get_exporter("batch_report"), user=user)
        assert _ids(form.fields["batch_id"].queryset) == batches
        for batch in movements["batches"]:
            shown = {b.pk for b in batch_record(batch, user)["balances"]}
            assert shown == stock & _ids(Balance.objects.filter(batch=batch, internal=True))

    # Dashboard.
    visible_balances = Balance.objects.filter(pk__in=stock, internal=True, grams__gt=0)
    stores = {(row["account__kind"], row["account__group__short_name"]) for row in stock_on_hand(user)}
    assert stores == set(visible_balances.values_list("account__kind", "account__group__short_name"))
    today = dt.datetime.now(tz=LOCAL_TZ).date()
    _, series = weekly_grams(user, today)
    charted = sum((g for weeks in series.values() for g in weeks.values()), Decimal("0"))
    assert charted == sum((e.grams for e in LedgerEntry.objects.filter(pk__in=handed_out)), Decimal("0"))

    # The batch page: who received each batch, and the stock of each store.
    for batch in movements["batches"]:
        codes = {r.member_code for r in selectors.batch_recipients(batch, user)}
        assert codes == set(
            LedgerEntry.objects.filter(pk__in=handed_out, batch=batch).values_list("member__code", flat=True)
        )
        stores_of_batch = {name for name, _ in selectors.stock_by_group(batch, user)}
        expected_stores = {
            name or Account.Kind(kind).label
            for kind, name in Balance.objects.filter(pk__in=stock, batch=batch, internal=True)
            .exclude(grams=0)
            .values_list("account__kind", "account__group__short_name")
        }
        assert stores_of_batch == expected_stores

