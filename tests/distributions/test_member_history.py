"""The member's history where people look: visits and allowance on the member page, the last
visit in the member list, both scoped as everything else."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions import services
from members.codes import format_code
from tests import factories as f
from tests.builders import Stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def heroin(db):
    return f.SubstanceFactory(name="Heroin")


@pytest.fixture
def cocaine(db):
    return f.SubstanceFactory(name="Cocaine")


@pytest.fixture
def stock(erin, dana, pat):
    return Stock(checker=erin, officer=dana, admin=pat)


@pytest.fixture
def member(group_a, alice):
    return f.MemberFactory(group=group_a, created_by=alice)


def page_of(client, user, member) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert response.status_code == 200
    return response.content.decode()


def panel(html: str, panel_id: str) -> str:
    return html.split(f'id="{panel_id}"', 1)[1].split("</fieldset>", 1)[0]


def test_the_member_page_shows_visits_undone_or_not_and_the_allowance(client, alice, charlie, member, heroin, cocaine, stock):
    two_weeks_ago = timezone.now() - dt.timedelta(days=14)
    old = stock.hand_out(member, heroin, "5", at=two_weeks_ago)
    today = stock.hand_out(member, heroin, "3.5")
    undone = stock.hand_out(member, cocaine, "2")
    services.entry_reverse(entry=undone, reason="wrong_grams", by=alice)

    for user in (alice, charlie):  # the coordinator and an auditor
        html = page_of(client, user, member)
        visits = panel(html, "member-visits")
        assert visits.count("<tr>") == 4  # the header and three lines
        assert today.batch.code in visits and "3.500 g" in visits and "5.000 g" in visits
        assert "Undone: wrong grams" in visits
        allowance = panel(html, "member-allowance")
        assert re.search(r"Heroin</th>\s*<td>10.500 g</td>", allowance)
        assert re.search(r"Cocaine</th>\s*<td>14.000 g</td>", allowance)
        weeks = panel(html, "member-weeks")
        monday = timezone.localdate() - dt.timedelta(days=timezone.localdate().weekday())
        assert re.search(rf"{monday:%Y-%m-%d}</th>\s*<td>0.000 g</td>\s*<td>3.500 g</td>", weeks), weeks
        old_day = timezone.localtime(old.occurred_at).date()
        assert f"{old_day - dt.timedelta(days=old_day.weekday()):%Y-%m-%d}" in weeks


def test_another_groups_coordinator_sees_neither_the_page_nor_the_visits(client, bob, member, heroin, stock):
    stock.hand_out(member, heroin, "1")
    client.force_login(bob)
    assert client.get(reverse("admin:members_member_change", args=[member.pk])).status_code == 302
    page = client.get(reverse("admin:members_member_changelist")).content.decode()
    assert format_code(member.code) not in page


def test_the_member_list_shows_the_last_visit_in_one_query_however_many_members(
    client, alice, group_a, heroin, stock, member
):
    def list_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("admin:members_member_changelist"))
        assert response.status_code == 200
        return len(queries.captured_queries), response.content.decode()

    first = stock.hand_out(member, heroin, "1", at=timezone.now() - dt.timedelta(days=3))
    client.force_login(alice)
    list_queries()  # warm the session
    few, html = list_queries()
    assert timezone.localtime(first.occurred_at).strftime("%Y-%m-%d %H:%M") in html
    later = stock.hand_out(member, heroin, "1")
    services.entry_reverse(entry=later, reason="wrong_member", by=alice)  # an undone visit does not count
    for _ in range(6):
        stock.hand_out(f.MemberFactory(group=group_a, created_by=alice), heroin, "1")
    many, html = list_queries()
    assert many == few
    assert html.count(">never<") == 0
    row = html.split(format_code(member.code), 1)[1].split("</tr>", 1)[0]
    # The undone visit today does not count: the last visit is still three days ago.
    assert f'last_visit">{timezone.localtime(first.occurred_at):%Y-%m-%d %H:%M}<' in row
    f.MemberFactory(group=group_a, created_by=alice)
    assert list_queries()[1].count(">never<") == 1
