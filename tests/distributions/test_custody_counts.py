"""Blind counts: the grams on the shelf against the ledger at signing, differences as
``count_difference`` adjustments, a second person signing, refusals storing nothing."""

import pytest

from distributions import services
from distributions.models import Account, LedgerEntry, StockCount
from distributions.services.ledger import group_account, system_account
from distributions.verify import verify_ledger
from tests.distributions.ledger_helpers import D, batch_at_group, batch_in_central, store_grams
from tests.distributions.test_custody_manifests import refused
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def batches(group_a, pat):
    return batch_at_group(group_a, pat, grams="10.000"), batch_at_group(group_a, pat, grams="40.000")


def count(store, lines, by, witness, **credentials):
    credentials.setdefault("witness_password", PASSWORD)
    return services.count_record(store=store, lines=lines, by=by, witness=witness, **credentials)


def test_a_count_that_matches_writes_no_entry(batches, alice, carol, group_a):
    one, two = batches
    before = LedgerEntry.objects.count()
    result = count(group_account(group_a), {one: "10", two: "40.000"}, alice, carol)
    assert (result.counted_by, result.signed_by, result.flagged) == (alice, carol, False)
    assert LedgerEntry.objects.count() == before
    assert sorted((line.batch_id, line.counted_grams, line.ledger_grams, line.entry_id) for line in result.lines.all()) == [
        (one.pk, D(10), D(10), None), (two.pk, D(40), D(40), None)]


def test_differences_become_count_difference_adjustments(batches, alice, carol, group_a):
    one, two = batches
    result = count(group_account(group_a), {one: "9.700", two: "40.250"}, alice, carol)
    lines = {line.batch_id: line for line in result.lines.select_related("entry")}
    short, over = lines[one.pk], lines[two.pk]
    assert (short.ledger_grams, short.counted_grams, short.difference) == (D(10), D("9.7"), D("-0.3"))
    assert short.entry.kind == LedgerEntry.Kind.ADJUSTMENT and short.entry.reason == "count_difference"
    assert short.entry.to_account.kind == Account.Kind.SUPPLIER and short.entry.grams == D("0.3")
    assert over.entry.from_account.kind == Account.Kind.SUPPLIER and over.entry.grams == D("0.25")
    assert store_grams(one, group_a) == D("9.7") and store_grams(two, group_a) == D("40.25")
    assert not result.flagged
    assert verify_ledger().ok


def test_a_difference_beyond_the_tolerance_is_flagged(batches, alice, carol, group_a):
    one, two = batches
    result = count(group_account(group_a), {one: "9.4", two: "40"}, alice, carol)
    assert result.flagged
    assert result.lines.get(flagged=True).batch == one


def test_stock_found_of_a_batch_the_ledger_does_not_place_here(batches, alice, carol, pat, group_a):
    one, two = batches
    stray = batch_in_central(grams="5", by=pat)
    result = count(group_account(group_a), {one: "10", two: "40", stray: "1.000"}, alice, carol)
    assert store_grams(stray, group_a) == D(1)
    assert result.lines.get(batch=stray).ledger_grams == D(0)
    assert verify_ledger().ok


def test_the_central_store_is_signed_by_programme_staff_only(alice, pat):
    batch = batch_in_central(grams="30", by=pat)
    # A coordinator has no right to the central store: they cannot witness its count.
    refused("witness_not_permitted", count, store=system_account(Account.Kind.CENTRAL), lines={batch: "30"}, by=pat, witness=alice)


def test_every_batch_in_the_store_must_be_counted(batches, alice, carol, group_a):
    one, two = batches
    error = refused("count_incomplete", count, store=group_account(group_a), lines={one: "10"}, by=alice, witness=carol)
    assert two.code in error.message_text and "40" not in error.message_text


@pytest.mark.parametrize("grams, code", [("-0.001", "grams_negative"), ("ten", "grams_invalid"), ("1.0005", "grams_invalid"),
                                         ("NaN", "grams_invalid")])
def test_negative_or_malformed_weights_are_refused(batches, alice, carol, group_a, grams, code):
    one, two = batches
    refused(code, count, store=group_account(group_a), lines={one: grams, two: "40"}, by=alice, witness=carol)
    assert not StockCount.objects.exists()  # no count signed with the good line alone


def test_the_counter_cannot_sign_their_own_count_nor_can_someone_without_a_right(batches, alice, bob, charlie, carol, group_a):
    one, two = batches
    lines = {one: "10", two: "40"}
    refused("witness_same_person", count, store=group_account(group_a), lines=lines, by=alice, witness=alice)
    refused("witness_not_permitted", count, store=group_account(group_a), lines=lines, by=alice, witness=bob)
    refused("witness_not_permitted", count, store=group_account(group_a), lines=lines, by=alice, witness=charlie)
    refused("not_permitted", count, store=group_account(group_a), lines=lines, by=bob, witness=carol)
    refused("count_duplicate_batch", count, store=group_account(group_a), lines=[(one, "10"), (one, "10"), (two, "40")],
            by=alice, witness=carol)
    assert not StockCount.objects.exists()



def test_the_count_page_shows_batches_but_never_their_grams_and_redirects_after_signing(client, batches, alice, carol, group_a):
    from django.urls import reverse

    one, two = batches
    store = group_account(group_a)
    client.force_login(alice)
    url = reverse("admin:distributions_stockcount_add")
    assert client.get(url).status_code == 200
    page = client.get(url, {"store": store.pk})
    body = page.content.decode()
    assert one.code in body and two.code in body
    assert "10.000" not in body and "40.000" not in body
    data = {f"batch_{one.pk}": "9.9", f"batch_{two.pk}": "40", "witness": carol.pk, "witness_password": "nope",
            "witness_code": ""}
    refused_page = client.post(f"{url}?store={store.pk}", data)
    assert refused_page.status_code == 200 and b"password was not accepted" in refused_page.content
    assert not StockCount.objects.exists()
    done = client.post(f"{url}?store={store.pk}", {**data, "witness_password": PASSWORD})
    assert done.status_code == 302
    count = StockCount.objects.get()
    assert done["Location"] == reverse("admin:distributions_stockcount_change", args=[count.pk])
    detail = client.get(done["Location"]).content.decode()
    assert "9.900" in detail and "10.000" in detail and "-0.100" in detail
    assert store_grams(one, group_a) == D("9.9")


def test_another_group_cannot_count_or_see_the_count(client, batches, alice, carol, bob, group_a):
    from django.urls import reverse

    one, two = batches
    result = count(group_account(group_a), {one: "10", two: "40"}, alice, carol)
    client.force_login(bob)
    assert client.get(reverse("admin:distributions_stockcount_change", args=[result.pk])).status_code == 302
    page = client.get(reverse("admin:distributions_stockcount_add"), {"store": group_account(group_a).pk})
    assert one.code.encode() not in page.content  # back to choosing one of bob's own stores


def test_the_dashboard_lists_stores_overdue_for_a_count(client, batches, alice, carol, bob, pat, group_a, group_b):
    import datetime as dt

    from django.urls import reverse

    one, two = batches
    group_account(group_b)
    client.force_login(alice)
    body = client.get(reverse("admin:index")).content.decode()
    assert "Stores overdue for a count" in body and "VANDU store" in body and "Never" in body
    assert "SOLID store" not in body
    result = count(group_account(group_a), {one: "10", two: "40"}, alice, carol)
    body = client.get(reverse("admin:index")).content.decode()
    assert "Every store has been counted" in body
    StockCount.objects.filter(pk=result.pk).update(signed_at=result.signed_at - dt.timedelta(days=8))
    body = client.get(reverse("admin:index")).content.decode()
    assert "8 days ago" in body
    client.force_login(pat)
    body = client.get(reverse("admin:index")).content.decode()
    assert "SOLID store" in body and "Central store" in body


def test_the_count_interval_is_the_programmes_seven_days_unless_set(client, batches, alice, carol, pat, group_a):
    import datetime as dt

    from django.urls import reverse

    one, two = batches
    result = count(group_account(group_a), {one: "10", two: "40"}, alice, carol)
    StockCount.objects.filter(pk=result.pk).update(signed_at=result.signed_at - dt.timedelta(days=6))
    client.force_login(alice)

    def overdue() -> str:
        body = client.get(reverse("admin:index")).content.decode()
        section = body[body.index('id="dashboard-counts-due"'):]
        return section[:section.index("</table>")]

    assert "VANDU store" not in overdue()  # 6 days: within the default 7
    services.custody_policy_set(tolerance_grams="0.5", tolerance_percent="1", count_interval_days=5, by=pat)
    assert "VANDU store" in overdue() and "(6 days ago)" in overdue()
    services.custody_policy_set(tolerance_grams="0.5", tolerance_percent="1", count_interval_days=7, by=pat)
    assert "VANDU store" not in overdue()


def test_each_store_has_its_count_history_newest_first(client, batches, alice, carol, pat, root, group_a):
    from django.urls import reverse

    one, two = batches
    store, central = group_account(group_a), system_account(Account.Kind.CENTRAL)
    first = count(store, {one: "10", two: "40"}, alice, carol)
    second = count(store, {one: "9.9", two: "40"}, carol, alice)
    held = {b.batch: D(b.grams) for b in central.balances.filter(grams__gt=0).select_related("batch")}
    elsewhere = count(central, held, pat, root)
    client.force_login(pat)
    url = reverse("admin:distributions_stockcount_changelist")
    page = client.get(url, {"store__id__exact": store.pk})
    listed = [c.pk for c in page.context["cl"].result_list]
    assert listed == [second.pk, first.pk] and elsewhere.pk not in listed
    client.force_login(alice)  # their own store's history, not the central store's
    assert [c.pk for c in client.get(url).context["cl"].result_list] == [second.pk, first.pk]
