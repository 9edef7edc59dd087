"""Replacement of grams received from a recalled batch: a ledger entry of its own kind, linked
to the recalled distribution, at most its grams, once, from a released batch of the same
substance, never counted against the allowance; retries and races store one."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services as ledger
from distributions.eligibility import check_eligibility
from distributions.models import LedgerEntry
from distributions.recalls.models import Replacement
from distributions.recalls.replacements import replacement_record
from distributions.verify import verify_ledger
from testing_results import services as testing
from testing_results.models import Batch
from tests.builders import transfer
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in, store_grams


@pytest.fixture
def recalled_handout(group_a, alice, pat, dana):
    """A member of VANDU received 3 g of a batch now recalled; VANDU holds 20 g of a released
    batch of the same substance."""
    bad = batch_at_group(group_a, pat, grams="10.000")
    member = member_in(group_a)
    handout = ledger.distribution_record(member=member, batch=bad, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    testing.batch_recall(batch=bad, by=dana, reason="Fentanyl found.")
    good = batch_at_group(group_a, pat, grams="20.000", substance=bad.substance)
    return member, handout, good


def replace(handout, batch, grams, by, k=None):
    return replacement_record(distribution=handout, batch=batch, grams=Decimal(grams), by=by, idempotency_key=k or key())


@pytest.mark.django_db
def test_a_replacement_is_linked_once_audited_and_moves_the_stock(recalled_handout, alice, group_a):
    member, handout, good = recalled_handout
    entry = replace(handout, good, "3.000", alice)
    assert (entry.kind, entry.member_id, entry.batch_id, entry.grams) == (LedgerEntry.Kind.REPLACEMENT, member.pk, good.pk, D("3.000"))
    assert entry.reason == f"replaces entry {handout.pk}"
    assert Replacement.objects.get(replaces=handout).entry_id == entry.pk
    assert store_grams(good, group_a) == D("17.000")
    assert AuditRecord.objects.filter(action="recall.replacement_recorded", target_id=str(entry.pk)).count() == 1
    assert verify_ledger().ok


@pytest.mark.django_db
def test_a_replacement_does_not_count_against_the_allowance(recalled_handout, alice):
    member, handout, good = recalled_handout
    before = check_eligibility(member).allowances[good.substance_id].remaining_grams
    assert before == D("11.000")  # the recalled 3 g still count: the member had them
    replace(handout, good, "3.000", alice)
    assert check_eligibility(member).allowances[good.substance_id].remaining_grams == before


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_first_entry(recalled_handout, alice):
    _member, handout, good = recalled_handout
    k = key()
    first = replace(handout, good, "2.000", alice, k)
    assert replace(handout, good, "2.000", alice, k).pk == first.pk
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT).count() == 1


@pytest.mark.django_db
def test_refusals_store_nothing(recalled_handout, alice, bob, pat, group_a, dana):
    member, handout, good = recalled_handout
    other_substance = batch_at_group(group_a, pat, grams="5.000")
    held = batch_at_group(group_a, pat, grams="5.000", substance=good.substance)
    testing.batch_hold(batch=held, by=dana, reason="Check again.")
    quarantined = batch_at_group(group_a, pat, grams="5.000", substance=good.substance)
    Batch.objects.filter(pk=quarantined.pk).update(status=Batch.Status.QUARANTINED)
    fine = ledger.distribution_record(member=member, batch=good, grams=Decimal("1.000"), by=alice, idempotency_key=key())
    cases = [
        ((handout, good, "3.001", alice), "over_recalled_grams"),
        ((handout, good, "0", alice), "grams_not_positive"),
        ((handout, good, "1.000", bob), "not_coordinator"),
        ((handout, held, "1.000", alice), "batch_on_hold"),
        ((handout, quarantined, "1.000", alice), "batch_not_released"),
        ((handout, other_substance, "1.000", alice), "wrong_substance"),
        ((fine, good, "1.000", alice), "batch_not_recalled"),
    ]
    entries = LedgerEntry.objects.count()
    for args, code in cases:
        with pytest.raises(ServiceError) as refused:
            replace(*args)
        assert refused.value.code == code, args
    assert LedgerEntry.objects.count() == entries and not Replacement.objects.exists()
    replace(handout, good, "2.500", alice)
    with pytest.raises(ServiceError) as refused:
        replace(handout, good, "0.500", alice)
    assert refused.value.code == "already_replaced"
    assert Replacement.objects.count() == 1


@pytest.mark.django_db
def test_a_reversed_or_non_distribution_entry_is_not_replaced(group_a, alice, pat, dana):
    bad = batch_at_group(group_a, pat, grams="10.000")
    member = member_in(group_a)
    handout = ledger.distribution_record(member=member, batch=bad, grams=Decimal("3.000"), by=alice, idempotency_key=key())
    reversal = ledger.entry_reverse(entry=handout, reason="entered_by_mistake", by=alice)
    testing.batch_recall(batch=bad, by=dana, reason="Recalled.")
    good = batch_at_group(group_a, pat, grams="20.000", substance=bad.substance)
    for entry, code in ((handout, "distribution_reversed"), (reversal, "not_a_distribution")):
        with pytest.raises(ServiceError) as refused:
            replace(entry, good, "1.000", alice)
        assert refused.value.code == code


@pytest.mark.django_db
def test_a_suspended_member_gets_no_replacement(recalled_handout, alice):
    member, handout, good = recalled_handout
    type(member).objects.filter(pk=member.pk).update(status="suspended")
    with pytest.raises(ServiceError) as refused:
        replace(handout, good, "1.000", alice)
    assert refused.value.code == "member_not_active"


@pytest.mark.django_db
def test_the_store_must_hold_the_grams(recalled_handout, alice, group_a, pat):
    _member, handout, good = recalled_handout
    transfer(batch=good, from_group=group_a, grams=Decimal("18.000"), by=pat)
    with pytest.raises(ServiceError) as refused:
        replace(handout, good, "3.000", alice)
    assert refused.value.code == "insufficient_stock"


def test_the_key_is_required():
    with pytest.raises(ServiceError) as refused:
        replacement_record(distribution=LedgerEntry(kind="distribution", member_id=1), batch=None, grams="1", by=None,
                           idempotency_key="")
    assert refused.value.code == "idempotency_key_missing"


@pytest.mark.django_db
def test_the_desk_offers_the_replacement_and_records_it_once(client, recalled_handout, alice):
    from django.urls import reverse

    member, handout, good = recalled_handout
    client.force_login(alice)
    page = client.post(reverse("admin:distributions_desk"), {"code": member.display_code}, follow=True).content.decode()
    offer = page.split('id="desk-replace"')[1].split("</div>\n  </div>")[0]
    assert "3.000 g of batch" in offer and good.code in offer
    key_value = offer.split('name="idempotency_key" value="')[1].split('"')[0]
    data = {"code": member.display_code, "distribution": handout.pk, "batch": good.pk, "grams": "3.000",
            "idempotency_key": key_value}
    response = client.post(reverse("admin:distributions_desk_replace"), data)
    assert response.status_code == 302
    assert client.post(reverse("admin:distributions_desk_replace"), data).status_code == 302  # a reload
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT).count() == 1
    page = client.post(reverse("admin:distributions_desk"), {"code": member.display_code}, follow=True).content.decode()
    assert 'id="desk-replace"' not in page
    assert "11.000 g" in page.split('id="desk-allowances"')[1]


@pytest.mark.django_db
def test_the_desk_shows_a_refused_replacement_and_stores_nothing(client, recalled_handout, alice):
    from django.urls import reverse

    member, handout, good = recalled_handout
    client.force_login(alice)
    data = {"code": member.display_code, "distribution": handout.pk, "batch": good.pk, "grams": "9.000",
            "idempotency_key": str(uuid.uuid4())}
    response = client.post(reverse("admin:distributions_desk_replace"), data)
    # Redirected after the POST, the member still on screen with the refusal above.
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "At most 3.000 g can be replaced" in page
    assert member.display_code in page
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPLACEMENT).exists()


@pytest.mark.django_db
def test_a_recall_of_the_replacement_batch_reaches_the_member_too(recalled_handout, alice, dana, group_a):
    from distributions.recalls.models import RecallNotice
    from distributions.recalls.selectors import member_alerts
    from distributions.status_page.selectors import batches_received

    member, handout, good = recalled_handout
    replace(handout, good, "3.000", alice)
    testing.batch_recall(batch=good, by=dana, reason="Recalled as well.")
    notice = RecallNotice.objects.get(batch=good, group=group_a)
    assert notice.members_count == 1 and notice.received_grams == D("3.000")
    assert {a.code for a in member_alerts(member)} == {handout.batch.code, good.code}
    assert good.code in {b.code for b in batches_received(member)[0]}
    # The allowance still counts only the distribution.
    assert check_eligibility(member).allowances[good.substance_id].remaining_grams == D("11.000")


@pytest.mark.django_db
def test_the_coordinator_who_made_a_replacement_can_undo_it_and_hand_out_another(recalled_handout, alice, bob, group_a):
    member, handout, good = recalled_handout
    assert not alice.has_perm("distributions.adjust_stock")
    first = replace(handout, good, "3.000", alice)
    # Another group's coordinator may not undo it; the member's own coordinator may.
    with pytest.raises(ServiceError) as refused:
        ledger.entry_reverse(entry=first, reason="wrong_grams", by=bob)
    assert refused.value.code == "not_coordinator"
    reversal = ledger.entry_reverse(entry=first, reason="wrong_grams", by=alice)
    assert reversal.reverses_id == first.pk and store_grams(good, group_a) == D("20.000")
    # The grams are to replace again: a second replacement, numbered after the first.
    second = replace(handout, good, "2.500", alice)
    assert [(r.entry_id, r.sequence) for r in Replacement.objects.filter(replaces=handout).order_by("sequence")] == [
        (first.pk, 1), (second.pk, 2)
    ]
    assert store_grams(good, group_a) == D("17.500")
    # While the second stands, a third is refused; the allowance never moved.
    with pytest.raises(ServiceError) as again:
        replace(handout, good, "0.500", alice)
    assert again.value.code == "already_replaced"
    assert check_eligibility(member).allowances[good.substance_id].remaining_grams == D("11.000")
    assert verify_ledger().ok


@pytest.mark.django_db
def test_the_desk_lists_a_replacement_with_its_undo_and_offers_the_grams_again_once_undone(client, recalled_handout, alice):
    from django.urls import reverse

    member, handout, good = recalled_handout
    client.force_login(alice)
    client.post(reverse("admin:distributions_desk"), {"code": member.display_code}, follow=True)
    data = {"code": member.display_code, "distribution": handout.pk, "batch": good.pk, "grams": "3.000",
            "idempotency_key": str(uuid.uuid4())}
    client.post(reverse("admin:distributions_desk_replace"), data)
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REPLACEMENT)
    last = client.get(reverse("admin:distributions_desk")).content.decode().split('id="desk-last"')[1]
    assert "Replacement:" in last and f'name="entry" value="{entry.pk}"' in last
    response = client.post(reverse("admin:distributions_desk_undo"), {"entry": entry.pk, "reason": "wrong_batch"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Undone: replacement of 3.000 g" in page
    assert LedgerEntry.objects.filter(reverses=entry).count() == 1
    assert 'id="desk-replace"' in page  # the recalled grams can be replaced again
