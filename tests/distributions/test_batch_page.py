"""The batch page as each role reads it: panels that make sense for the batch's status, stores
named (never "None"), the Invalidate link offered only to who may use it, one date format."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.roles import Role
from distributions import selectors, services
from testing_results import services as testing
from tests import factories as f
from tests.builders import D, clean_findings, record_checks, released_batch


def page(client, user, batch) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["dana", "charlie", "pat", "alice"])
def test_a_batch_never_released_has_no_who_received_panel(request, client, role, heroin, erin):
    batch = testing.batch_receive(substance=heroin, grams=D("50"), received_on=timezone.localdate(), by=erin)
    assert batch.status == batch.Status.QUARANTINED
    text = page(client, request.getfixturevalue(role), batch)
    assert "Who received this batch" not in text
    assert "Reach of this batch by group" not in text
    assert "the reach by group above" not in text

    testing.batch_reject(batch=batch, by=request.getfixturevalue("dana"), reason="Fentanyl found by the lab.")
    assert "Who received this batch" not in page(client, request.getfixturevalue(role), batch)


@pytest.mark.django_db
def test_a_released_batch_still_shows_who_received_it(client, heroin, erin, dana, pat):
    batch = released_batch(heroin, checker=erin, officer=dana)
    text = page(client, pat, batch)
    assert "Who received this batch" in text and "Nobody has received this batch." in text


@pytest.mark.django_db
def test_grams_on_a_manifest_are_named_in_transit_not_none(client, heroin, erin, dana, pat, group_a):
    batch = released_batch(heroin, checker=erin, officer=dana)
    services.manifest_send(
        batch=batch, from_store=services.store_account(None), to_store=services.store_account(group_a),
        grams=D("10"), packages=1, by=pat,
    )
    stores = dict(selectors.stock_by_group(batch, pat))
    assert stores["In transit"] == Decimal("10.000")
    assert None not in stores
    text = page(client, pat, batch)
    assert "<td>None</td>" not in text and "In transit" in text


@pytest.mark.django_db
def test_invalidate_is_offered_only_to_a_second_checker_or_a_release_officer(client, heroin, erin, dana, alice, charlie):
    batch = testing.batch_receive(substance=heroin, grams=D("50"), received_on=timezone.localdate(), by=erin)
    for method, findings in clean_findings(heroin).items():
        record_checks(batch=batch, method=method, findings=findings, by=erin, lab="Lab")
    invalidate = reverse("admin:testing_results_batch_invalidate", args=[batch.pk, batch.checks.first().pk])
    second_checker = f.UserFactory(username="frank", roles=[Role.DRUG_CHECKER])

    for user in (second_checker, dana):
        assert invalidate in page(client, user, batch)
    # The person who entered the checks is told why there is no link; readers get none.
    own = page(client, erin, batch)
    assert invalidate not in own and "entered by you" in own
    for user in (alice, charlie):
        text = page(client, user, batch)
        assert invalidate not in text and "Invalidate" not in text


@pytest.mark.django_db
def test_staff_pages_print_dates_in_one_format(client, heroin, erin, pat):
    batch = testing.batch_receive(substance=heroin, grams=D("50"), received_on=timezone.localdate(), by=erin)
    text = page(client, pat, batch)
    assert timezone.localdate().strftime("%Y-%m-%d") in text
    assert timezone.localtime(batch.created_at).strftime("%Y-%m-%d %H:%M") in text
    assert "a.m." not in text and "p.m." not in text
