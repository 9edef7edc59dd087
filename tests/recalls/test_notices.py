"""Recall notices: issued with the hold or recall, one per group the batch reached; the
coordinator's dashboard and desk show them in red until a coordinator of the group
acknowledges; the release officer sees each group's acknowledgement and stock still out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services as ledger
from distributions.recalls import services
from distributions.recalls.models import RecallNotice
from distributions.recalls.selectors import open_recalls
from members.codes import format_code
from testing_results import services as testing
from testing_results.models import Batch
from tests.builders import destroy, transfer
from tests.distributions.ledger_helpers import D, batch_at_group, member_in


def notices(batch):
    return {n.group.short_name: n for n in RecallNotice.objects.filter(batch=batch).select_related("group")}


@pytest.mark.django_db
def test_a_recall_issues_one_notice_per_group_it_reached_with_what_the_ledger_said(out_in_groups, dana):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found by a new mass spectrometry check.")
    by_group = notices(batch)
    assert set(by_group) == {"VANDU", "SOLID"}
    vandu, solid = by_group["VANDU"], by_group["SOLID"]
    assert (vandu.kind, vandu.store_grams, vandu.members_count, vandu.received_grams) == (
        RecallNotice.Kind.RECALL, D("33.500"), 2, D("6.500"))
    assert (solid.store_grams, solid.members_count, solid.received_grams) == (D("25.000"), 1, D("5.000"))
    assert not vandu.is_acknowledged
    assert AuditRecord.objects.filter(action="recall.notices_issued", target_id=str(batch.pk)).count() == 1


@pytest.mark.django_db
def test_a_hold_issues_notices_and_a_later_recall_issues_new_ones(out_in_groups, dana):
    batch, _ = out_in_groups
    testing.batch_hold(batch=batch, by=dana, reason="Adverse event reported.")
    assert {n.kind for n in notices(batch).values()} == {RecallNotice.Kind.HOLD}
    testing.batch_recall(batch=batch, by=dana, reason="Confirmed.")
    kinds = sorted(RecallNotice.objects.filter(batch=batch).values_list("group__short_name", "kind"))
    assert kinds == [("SOLID", "on_hold"), ("SOLID", "recalled"), ("VANDU", "on_hold"), ("VANDU", "recalled")]


@pytest.mark.django_db
def test_a_group_that_only_holds_stock_gets_a_notice_and_one_never_reached_gets_none(group_a, group_b, pat, dana, bob):
    batch = batch_at_group(group_a, pat, grams="10.000")
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    assert set(notices(batch)) == {"VANDU"}


@pytest.mark.django_db
def test_a_batch_still_in_the_central_store_issues_no_notice(pat, dana):
    from tests.distributions.ledger_helpers import batch_in_central

    batch = batch_in_central(by=pat)
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    assert not RecallNotice.objects.filter(batch=batch).exists()


@pytest.mark.django_db
def test_an_automatic_hold_by_a_drug_checker_issues_notices_too(out_in_groups, erin):
    from tests import factories as f

    batch, _ = out_in_groups
    fentanyl = f.CompoundFactory(name="Fentanyl", category="harmful", drug_class="fentanyl")
    testing.check_record(
        batch=batch, method="mass_spec", findings=[{"compound": fentanyl, "result": "detected"}], by=erin,
        sample_mg=Decimal("0"), instrument=f.InstrumentFactory(method="mass_spec"),
    )
    batch.refresh_from_db()
    assert batch.status == Batch.Status.ON_HOLD
    assert set(notices(batch)) == {"VANDU", "SOLID"}


@pytest.mark.django_db
def test_the_notice_commits_with_the_recall_or_not_at_all(out_in_groups, dana, monkeypatch):
    batch, _ = out_in_groups
    from distributions.recalls import receivers

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("distributions.recalls.services.recall_notices_issue", broken)
    assert receivers  # the receiver imports the service at call time
    with pytest.raises(RuntimeError):
        testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RELEASED
    assert not RecallNotice.objects.exists()


@pytest.mark.django_db
def test_a_coordinator_of_the_group_acknowledges_once_and_it_is_audited(out_in_groups, dana, alice, carol):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    notice = notices(batch)["VANDU"]
    services.recall_notice_acknowledge(notice=notice, by=alice)
    notice.refresh_from_db()
    assert notice.acknowledged_by == alice and notice.acknowledged_at is not None
    assert AuditRecord.objects.filter(action="recall.notice_acknowledged", target_id=str(notice.pk)).count() == 1
    with pytest.raises(ServiceError) as refused:
        services.recall_notice_acknowledge(notice=notice, by=carol)
    assert refused.value.code == "already_acknowledged"
    notice.refresh_from_db()
    assert notice.acknowledged_by == alice
    assert AuditRecord.objects.filter(action="recall.notice_acknowledged").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["bob", "dana", "pat", "charlie"])
def test_only_a_coordinator_of_the_group_may_acknowledge(request, out_in_groups, dana, who):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    notice = notices(batch)["VANDU"]
    with pytest.raises(ServiceError) as refused:
        services.recall_notice_acknowledge(notice=notice, by=request.getfixturevalue(who))
    assert refused.value.code == "not_coordinator"
    notice.refresh_from_db()
    assert not notice.is_acknowledged


@pytest.mark.django_db
def test_the_coordinators_dashboard_and_desk_show_their_unacknowledged_notice_in_red(client, out_in_groups, dana, alice):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    client.force_login(alice)
    for url in (reverse("admin:index"), reverse("admin:distributions_desk")):
        page = client.get(url).content.decode()
        assert 'id="recall-notices"' in page and "recalls/recalls.css" in page, url
        assert f"batch {batch.code}" in page and "VANDU" in page.split('id="recall-notices"')[1].split("</section>")[0]
        assert page.index('id="recall-notices"') < page.index("</section>")
    notice = notices(batch)["VANDU"]
    response = client.post(reverse("admin:recalls_notice_acknowledge", args=[notice.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("admin:recalls_notice", args=[notice.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Acknowledged by alice" in page
    assert 'id="recall-notices"' not in client.get(reverse("admin:index")).content.decode()
    # Reloading the POST is refused with a message, nothing changes.
    again = client.post(reverse("admin:recalls_notice_acknowledge", args=[notice.pk]), follow=True)
    assert "already been acknowledged" in again.content.decode()


@pytest.mark.django_db
def test_the_notice_page_shows_what_was_found_stock_to_send_back_own_members_and_what_to_say(
    client, out_in_groups, dana, alice
):
    batch, (a1, a2, b1) = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Fentanyl found by a new mass spectrometry check.")
    client.force_login(alice)
    page = client.get(reverse("admin:recalls_notice", args=[notices(batch)["VANDU"].pk])).content.decode()
    assert "Fentanyl found by a new mass spectrometry check." in page
    assert "33.500 g" in page and "2 members of VANDU received 6.500 g" in page
    assert format_code(a1.code) in page and format_code(a2.code) in page and format_code(b1.code) not in page
    assert "Do not use what is left of batch" in page
    assert 'id="recall-acknowledge"' in page
    # Another group's notice is not found for alice.
    assert client.get(reverse("admin:recalls_notice", args=[notices(batch)["SOLID"].pk])).status_code == 404


@pytest.mark.django_db
def test_the_release_officer_sees_each_groups_acknowledgement_and_stock_out_but_no_member_codes(
    client, out_in_groups, dana, alice
):
    batch, members = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    services.recall_notice_acknowledge(notice=notices(batch)["VANDU"], by=alice)
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    panel = page.split("Recall notices")[1].split("</section>")[0]
    assert "VANDU" in panel and "SOLID" in panel and "33.500 g" in panel and "25.000 g" in panel
    assert "by alice" in panel and "Not yet" in panel
    dashboard = client.get(reverse("admin:index")).content.decode()
    recalls = dashboard.split('id="dashboard-recalls"')[1].split("</table>")[0]
    assert batch.code in recalls and "VANDU: 33.500 g" in recalls and "SOLID: 25.000 g" in recalls
    notice_page = client.get(reverse("admin:recalls_notice", args=[notices(batch)["SOLID"].pk])).content.decode()
    assert "Member codes show only to the group" in notice_page and 'id="recall-acknowledge"' not in notice_page
    for member in members:
        for body in (page, dashboard, notice_page):
            assert format_code(member.code) not in body and member.code not in body


@pytest.mark.django_db
def test_a_recall_stays_open_until_every_store_is_empty_and_every_notice_acknowledged(
    out_in_groups, dana, alice, bob, pat, group_a, group_b
):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    (row,) = open_recalls(dana)
    assert row.outstanding == [("Central store", D("430.000")), ("SOLID", D("25.000")), ("VANDU", D("33.500"))]
    assert row.unacknowledged == ["SOLID", "VANDU"]
    for group, grams in ((group_a, "33.500"), (group_b, "25.000")):
        transfer(batch=batch, from_group=group, grams=Decimal(grams), by=pat)
    (row,) = open_recalls(dana)
    assert row.outstanding == [("Central store", D("488.500"))]
    services.recall_notice_acknowledge(notice=notices(batch)["VANDU"], by=alice)
    services.recall_notice_acknowledge(notice=notices(batch)["SOLID"], by=bob)
    (row,) = open_recalls(dana)
    assert row.unacknowledged == [] and row.acknowledged == ["SOLID", "VANDU"]
    destroy(batch=batch, grams=D("488.500"), reason="recalled", by=pat)
    assert open_recalls(dana) == []


@pytest.mark.django_db
def test_a_coordinator_and_a_drug_checker_see_no_open_recall_overview(out_in_groups, dana, alice, erin):
    batch, _ = out_in_groups
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    assert open_recalls(alice) == [] and open_recalls(erin) == []


@pytest.mark.django_db
def test_no_notice_shows_to_a_coordinator_of_another_group(client, group_a, group_b, pat, dana, bob):
    batch = batch_at_group(group_a, pat, grams="10.000")
    member_in(group_a)
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    client.force_login(bob)
    assert 'id="recall-notices"' not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_a_hold_notice_of_a_batch_released_again_says_so(client, out_in_groups, dana, alice):
    batch, _ = out_in_groups
    testing.batch_hold(batch=batch, by=dana, reason="Check again.")
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RELEASED)
    client.force_login(alice)
    assert "released again since, after review" in client.get(reverse("admin:distributions_desk")).content.decode()
    page = client.get(reverse("admin:recalls_notice", args=[notices(batch)["VANDU"].pk])).content.decode()
    assert "released again" in page and "nobody can hand it out" not in page


def _recalled_in_groups(groups, pat, dana, coordinators):
    """A batch sent to each group, one member of each served; the first member told at the
    desk; then recalled, so one notice per group."""
    batch = batch_at_group(groups[0], pat, grams="20.000")
    for group in groups[1:]:
        transfer(batch=batch, to_group=group, grams=Decimal("10.000"), by=pat)
    first = None
    for group, coordinator in zip(groups, coordinators, strict=True):
        member = member_in(group)
        first = first or (member, coordinator)
        ledger.distribution_record(member=member, batch=batch, grams=Decimal("1.500"), by=coordinator,
                                   idempotency_key=f"{batch.pk}-{member.pk}")
    testing.batch_recall(batch=batch, by=dana, reason="Recalled.")
    services.member_told_record(member=first[0], batch=batch, by=first[1])
    return batch


@pytest.mark.django_db
def test_the_batch_pages_notice_panel_costs_the_same_queries_for_one_notice_or_three(
    group_a, group_b, alice, bob, pat, dana
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from distributions.recalls.selectors import batch_notices, store_grams_now, told_count
    from members.models import MemberGroup
    from tests import factories as f

    group_c = f.MemberGroupFactory(short_name="CSUN")
    carl = f.UserFactory(username="carl", roles=["Coordinator"])
    group_c.coordinators.add(carl)
    one = _recalled_in_groups([group_a], pat, dana, [alice])
    three = _recalled_in_groups([group_a, group_b, group_c], pat, dana, [alice, bob, carl])

    costs = {}
    for batch, expected in ((one, 1), (three, 3)):
        with CaptureQueriesContext(connection) as queries:
            rows = batch_notices(batch, dana)
        costs[expected] = len(queries)
        assert len(rows) == expected
        # The same figures as the one-notice functions the notice page and the report use.
        for row in rows:
            assert row.store_grams_now == store_grams_now(batch.pk, row.notice.group_id)
            assert row.members_told == told_count(row.notice)
        assert {r.notice.group.short_name: r.members_told for r in rows} == (
            {"VANDU": 1} if expected == 1 else {"VANDU": 1, "SOLID": 0, "CSUN": 0}
        )
    assert costs[1] == costs[3] == 1, costs
    assert MemberGroup.objects.count() == 3
