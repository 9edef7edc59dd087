"""The distribution desk through Django's test client: lookup, eligibility and stock, recording,
idempotency, refusals as form errors, undo, scoping and the query count of a lookup."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from distributions import services
from distributions.desk.forms import NOT_FOUND_MESSAGE, TYPO_MESSAGE, LookupForm
from distributions.desk.views import SESSION_LAST_VISIT, SESSION_MEMBER
from distributions.models import LedgerEntry
from members.codes import ALPHABET, format_code
from members.models import Member
from testing_results.models import Batch
from tests import factories as f

DESK = reverse("admin:distributions_desk")
RECORD = reverse("admin:distributions_desk_record")
UNDO = reverse("admin:distributions_desk_undo")
CLEAR = reverse("admin:distributions_desk_clear")


def typo_of(code: str) -> str:
    """The code with one symbol changed: the check character always catches that."""
    wrong = ALPHABET[(ALPHABET.index(code[3]) + 1) % len(ALPHABET)]
    return code[:3] + wrong + code[4:]


def record_form(response) -> dict[str, str]:
    """The hidden fields of the distribution form as rendered."""
    html = response.content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    code = re.search(r'<input type="hidden" name="code" value="([^"]+)"', html).group(1)
    return {"code": code, "idempotency_key": key}


def line(batch, grams) -> dict[str, object]:
    """One line of a visit as the form posts it."""
    return {f"batch_{batch.substance_id}": batch.pk, f"grams_{batch.substance_id}": grams}


def distributions_of(member) -> int:
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member).count()


@pytest.fixture
def desk_client(client, alice):
    client.force_login(alice)
    return client


def test_a_typo_in_the_code_is_caught_by_the_check_character_before_any_query(member, django_assert_num_queries):
    form = LookupForm({"code": format_code(typo_of(member.code))})
    with django_assert_num_queries(0):
        assert not form.is_valid()
    assert form.errors["code"] == [TYPO_MESSAGE]


def test_the_desk_says_typo_not_unknown_for_a_mistyped_code(desk_client, member):
    response = desk_client.post(DESK, {"code": typo_of(member.code)}, follow=True)
    assert response.status_code == 200
    assert "typo" in response.content.decode()
    assert NOT_FOUND_MESSAGE not in response.content.decode()


def test_a_code_typed_in_lower_case_with_spaces_and_look_alikes_is_found(desk_client, member, heroin):
    typed = " ".join(member.code[i : i + 4] for i in (0, 4, 8)).lower().replace("0", "o").replace("1", "l")
    response = desk_client.post(DESK, {"code": typed}, follow=True)
    assert response.status_code == 200
    assert member.display_code in response.content.decode()
    assert 'id="desk-record"' in response.content.decode()


def test_a_member_of_another_group_is_not_found_exactly_like_an_unknown_code(client, bob, member, group_b):
    client.force_login(bob)
    other_group = client.post(DESK, {"code": member.code}, follow=True)
    unknown = client.post(DESK, {"code": f.MemberFactory.build().code}, follow=True)
    assert NOT_FOUND_MESSAGE in other_group.content.decode()
    assert NOT_FOUND_MESSAGE in unknown.content.decode()
    assert member.display_code not in other_group.content.decode()


def test_the_member_code_travels_only_in_post_bodies(desk_client, member):
    response = desk_client.get(DESK, {"code": member.code})
    assert member.display_code not in response.content.decode()
    assert 'method="post"' in response.content.decode()


def test_the_lookup_shows_eligibility_allowance_renewal_and_the_groups_stock_soonest_best_before_first(
    desk_client, member, heroin, cocaine, group_a, group_b, stock
):
    today = timezone.localdate()
    later = stock(group_a, heroin, best_before=today + dt.timedelta(days=300), code="H-LATER")
    sooner = stock(group_a, heroin, best_before=today + dt.timedelta(days=30), code="H-SOONER")
    elsewhere = stock(group_b, heroin, code="H-SOLID")
    recalled = stock(group_a, cocaine, code="C-RECALLED")
    Batch.objects.filter(pk=recalled.pk).update(status=Batch.Status.RECALLED)

    response = desk_client.post(DESK, {"code": member.code}, follow=True)
    html = response.content.decode()

    assert response.status_code == 200
    assert 'id="desk-eligibility">Eligible ' in html
    assert f"{member.renewal_due:%-d %b %Y}" in html
    assert "14.000 g" in html
    assert html.index(sooner.code) < html.index(later.code)
    assert elsewhere.code not in html
    assert recalled.code not in html
    assert sooner.label_text in html


def test_an_ineligible_member_sees_every_reason_and_no_form(desk_client, member, heroin, group_a, stock):
    stock(group_a, heroin)
    Member.objects.filter(pk=member.pk).update(
        status=Member.Status.SUSPENDED, renewal_due=member.enrolled_on
    )
    response = desk_client.post(DESK, {"code": member.code}, follow=True)
    html = response.content.decode()
    assert "Not eligible" in html
    assert 'data-code="member_not_active"' in html
    assert 'data-code="renewal_overdue"' in html
    assert 'id="desk-record"' not in html
    # Worded for the coordinator at the desk, with where to fix it, not the member's sentence.
    assert "Talk to a coordinator" not in html and "Renew with a coordinator" not in html
    assert "The membership is suspended. Reinstate it first" in html
    assert reverse("admin:members_member_status", args=[member.pk]) in html
    assert reverse("admin:members_member_renew", args=[member.pk]) in html


def test_it_records_a_distribution_then_offers_a_fresh_form_with_the_last_one_and_undo(
    desk_client, member, heroin, group_a, stock
):
    batch = stock(group_a, heroin)
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    response = desk_client.post(RECORD, {**record_form(shown), **line(batch, "3.5")})

    assert response.status_code == 302
    assert response["Location"] == DESK
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISTRIBUTION, member=member)
    assert entry.grams == Decimal("3.500")
    assert entry.batch == batch

    page = desk_client.get(DESK).content.decode()
    assert "Recorded 3.500 g of Heroin" in page
    assert 'id="desk-last"' in page
    assert member.display_code in page
    assert UNDO in page
    assert 'name="code"' in page and "autofocus" in page

    again = desk_client.post(DESK, {"code": member.code}, follow=True).content.decode()
    assert "10.500 g" in again


def test_a_visit_of_three_substances_is_recorded_together_and_the_member_stays_on_screen(
    desk_client, member, heroin, cocaine, group_a, stock
):
    meth = f.SubstanceFactory(name="Methamphetamine")
    batches = [stock(group_a, heroin), stock(group_a, cocaine), stock(group_a, meth)]
    shown = desk_client.post(DESK, {"code": format_code(member.code).lower()}, follow=True)
    response = desk_client.post(RECORD, {
        **record_form(shown), **line(batches[0], "3.5"), **line(batches[1], "2"), **line(batches[2], "1.25"),
    })
    assert response.status_code == 302 and response["Location"] == DESK
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member)
    assert sorted((e.batch_id, e.grams) for e in entries) == sorted(
        [(batches[0].pk, Decimal("3.500")), (batches[1].pk, Decimal("2.000")), (batches[2].pk, Decimal("1.250"))]
    )
    # One key for the visit, one entry key per line derived from it.
    key = record_form(shown)["idempotency_key"].replace("-", "")
    assert {e.idempotency_key for e in entries} == {f"{key}.{b.pk}" for b in batches}

    # The page after the POST shows the same member again, with what is left now, the visit's
    # lines with an undo each, and a fresh form; reloading it records nothing.
    for _ in range(2):
        page = desk_client.get(DESK).content.decode()
        assert member.display_code in page and 'id="desk-record"' in page
        assert "10.500 g" in page and "12.000 g" in page and "12.750 g" in page
        assert page.count('class="desk-form desk-undo"') == 3
        assert re.search(r'id="id_code"[^>]*autofocus', page, re.S)  # ready for the next member
    assert distributions_of(member) == 3
    assert record_form(desk_client.get(DESK))["idempotency_key"] != record_form(shown)["idempotency_key"]

    # "Clear" when done: the next person at the desk sees nobody.
    assert desk_client.post(CLEAR).status_code == 302
    page = desk_client.get(DESK).content.decode()
    assert member.display_code not in page and 'id="desk-last"' not in page


def test_one_refused_line_records_no_line_and_keeps_what_was_typed(desk_client, member, heroin, cocaine, group_a, stock):
    her, coc = stock(group_a, heroin), stock(group_a, cocaine, "1.000")
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    response = desk_client.post(RECORD, {**record_form(shown), **line(her, "3.5"), **line(coc, "2")})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="desk-grams-errors-{cocaine.pk}"' in html and "holds only 1.000 g" in html
    assert 'value="3.5"' in html and 'value="2"' in html
    assert re.search(rf'id="desk-grams-{cocaine.pk}"[^>]*autofocus', html, re.S)
    assert distributions_of(member) == 0


def test_a_resubmitted_form_records_once(desk_client, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    fields = {**record_form(desk_client.post(DESK, {"code": member.code}, follow=True)), **line(batch, "2")}

    first = desk_client.post(RECORD, fields)
    second = desk_client.post(RECORD, fields)

    assert first.status_code == second.status_code == 302
    assert distributions_of(member) == 1
    assert "already recorded" in desk_client.get(DESK).content.decode()


def test_every_lookup_renders_a_new_idempotency_key(desk_client, member, heroin, group_a, stock):
    stock(group_a, heroin)
    one = record_form(desk_client.post(DESK, {"code": member.code}, follow=True))["idempotency_key"]
    two = record_form(desk_client.post(DESK, {"code": member.code}, follow=True))["idempotency_key"]
    assert one != two
    assert uuid.UUID(one).version == 4


def test_grams_over_the_allowance_come_back_as_a_form_error_with_the_exact_figure(
    desk_client, member, heroin, group_a, stock
):
    batch = stock(group_a, heroin)
    services.distribution_record(
        member=member, batch=batch, grams=Decimal("10.000"), by=member.group.coordinators.first(),
        idempotency_key=uuid.uuid4().hex,
    )
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    response = desk_client.post(RECORD, {**record_form(shown), **line(batch, "5")})

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="desk-grams-errors-{heroin.pk}"' in html
    assert "4.000" in html
    assert distributions_of(member) == 1


def test_a_batch_recalled_after_the_page_was_shown_is_refused_with_the_services_message(
    desk_client, member, heroin, group_a, stock
):
    batch = stock(group_a, heroin)
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    Batch.objects.filter(pk=batch.pk).update(status=Batch.Status.RECALLED)

    response = desk_client.post(RECORD, {**record_form(shown), **line(batch, "1")})

    assert response.status_code == 200
    assert f'id="desk-batch-errors-{heroin.pk}"' in response.content.decode()
    assert "recalled" in response.content.decode().lower()
    assert distributions_of(member) == 0


def test_missing_grams_and_batch_are_form_errors_not_server_errors(desk_client, member, heroin, group_a, stock):
    stock(group_a, heroin)
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    response = desk_client.post(RECORD, {**record_form(shown), f"grams_{heroin.pk}": "abc"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter the grams as a number" in html
    response = desk_client.post(RECORD, {**record_form(shown), f"grams_{heroin.pk}": "2", f"batch_{heroin.pk}": ""})
    assert "Choose a batch." in response.content.decode()
    response = desk_client.post(RECORD, {**record_form(shown), f"grams_{heroin.pk}": ""})
    assert "Enter the grams of at least one substance." in response.content.decode()
    assert distributions_of(member) == 0


def test_a_tampered_member_code_on_the_record_form_records_nothing(client, bob, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    client.force_login(bob)
    response = client.post(
        RECORD, {"code": member.code, "idempotency_key": str(uuid.uuid4()), **line(batch, "1")}
    )
    assert response.status_code == 200
    assert NOT_FOUND_MESSAGE in response.content.decode()
    assert distributions_of(member) == 0


def test_undo_reverses_the_last_distribution_with_the_chosen_reason(desk_client, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    desk_client.post(RECORD, {**record_form(shown), **line(batch, "4")})
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISTRIBUTION, member=member)

    response = desk_client.post(UNDO, {"entry": entry.pk, "reason": "wrong_grams"})

    assert response.status_code == 302
    reversal = LedgerEntry.objects.get(reverses=entry)
    assert reversal.reason == "wrong_grams"
    page = desk_client.get(DESK).content.decode()
    assert "Undone" in page
    assert UNDO not in page
    assert "14.000 g" in desk_client.post(DESK, {"code": member.code}, follow=True).content.decode()


def test_undo_needs_a_reason_and_refuses_twice(desk_client, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    shown = desk_client.post(DESK, {"code": member.code}, follow=True)
    desk_client.post(RECORD, {**record_form(shown), **line(batch, "4")})
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISTRIBUTION, member=member)

    no_reason = desk_client.post(UNDO, {"entry": entry.pk, "reason": ""})
    assert no_reason.status_code == 302
    assert "Not undone: Choose why it is being undone." in desk_client.get(DESK).content.decode()
    assert not LedgerEntry.objects.filter(reverses=entry).exists()

    desk_client.post(UNDO, {"entry": entry.pk, "reason": "wrong_batch"})
    twice = desk_client.post(UNDO, {"entry": entry.pk, "reason": "wrong_batch"})
    assert twice.status_code == 302
    assert "Not undone: This entry has already been reversed." in desk_client.get(DESK).content.decode()
    assert LedgerEntry.objects.filter(reverses=entry).count() == 1


def test_a_coordinator_cannot_undo_another_groups_distribution(client, alice, bob, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    entry = services.distribution_record(
        member=member, batch=batch, grams=Decimal("1"), by=alice, idempotency_key=uuid.uuid4().hex
    )
    client.force_login(bob)
    response = client.post(UNDO, {"entry": entry.pk, "reason": "wrong_grams"})
    assert response.status_code == 302
    assert "Not undone: That line was not found." in client.get(DESK).content.decode()
    assert not LedgerEntry.objects.filter(reverses=entry).exists()


def test_the_last_distribution_is_not_shown_to_another_user_of_the_session_scope(client, alice, bob, member, heroin, group_a, stock):
    batch = stock(group_a, heroin)
    entry = services.distribution_record(
        member=member, batch=batch, grams=Decimal("1"), by=alice, idempotency_key=uuid.uuid4().hex
    )
    client.force_login(bob)
    session = client.session
    session[SESSION_LAST_VISIT] = [entry.pk]
    session[SESSION_MEMBER] = member.pk
    session.save()
    page = client.get(DESK).content.decode()
    assert 'id="desk-last"' not in page and member.display_code not in page


def test_a_coordinator_of_several_groups_serves_from_the_members_own_group(
    client, alice, group_b, heroin, stock
):
    group_b.coordinators.add(alice)
    theirs = f.MemberFactory(group=group_b, created_by=alice)
    in_a = stock(alice.coordinated_groups.get(short_name="VANDU"), heroin, code="H-VANDU")
    in_b = stock(group_b, heroin, code="H-SOLID")
    client.force_login(alice)

    shown = client.post(DESK, {"code": theirs.code}, follow=True)
    html = shown.content.decode()
    assert in_b.code in html
    assert in_a.code not in html

    client.post(RECORD, {**record_form(shown), **line(in_b, "1")})
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.DISTRIBUTION, member=theirs)
    assert entry.from_account.group == group_b


def test_the_desk_is_for_users_who_may_record_distributions(client, charlie):
    client.force_login(charlie)
    assert client.get(DESK).status_code == 403
    assert client.post(RECORD, {}).status_code == 403


def test_the_desk_needs_a_login(client, db):
    response = client.get(DESK)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_desk_pages_are_never_cached(desk_client):
    assert "no-store" in desk_client.get(DESK)["Cache-Control"]


def test_the_page_has_no_inline_script_or_style(desk_client, member, heroin, group_a, stock):
    stock(group_a, heroin)
    html = desk_client.post(DESK, {"code": member.code}, follow=True).content.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert "<style" not in html
    assert " style=" not in html
    assert "desk/desk.js" in html and "desk/desk.css" in html


def _lookup_queries(client, member) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(DESK, {"code": member.code}, follow=True)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def test_the_lookup_runs_the_same_queries_however_long_the_members_history(
    desk_client, member, heroin, cocaine, group_a, stock
):
    batches = [stock(group_a, heroin), stock(group_a, cocaine)]
    alice = member.group.coordinators.get()
    _lookup_queries(desk_client, member)  # warm the session and permission caches

    def hand_out(n: int) -> None:
        for i in range(n):
            services.distribution_record(
                member=member, batch=batches[i % 2], grams=Decimal("0.100"), by=alice,
                idempotency_key=uuid.uuid4().hex,
            )

    hand_out(1)
    short = _lookup_queries(desk_client, member)
    hand_out(20)
    long = _lookup_queries(desk_client, member)
    # The session, the user, the user's and their roles' permissions, the groups the user
    # coordinates, the member (with group, scoped), check_eligibility (substances, policies,
    # overrides and the member's distributions in the window, in one statement), the group's
    # stock, the held or recalled batches the member received (with told and seen, in one
    # statement), the user's groups' unacknowledged recall notices, the session saved
    # (savepoint, update, release): the same at any length of history.
    assert len(short) == len(long)


def test_a_lookup_redirects_so_a_reload_never_posts_the_code_again(desk_client, member, heroin, group_a, stock):
    stock(group_a, heroin)
    response = desk_client.post(DESK, {"code": format_code(member.code).lower()})
    assert response.status_code == 302 and response["Location"] == DESK
    shown = desk_client.get(DESK).content.decode()
    # The member on screen, the cursor in the visit's first grams box.
    assert member.display_code in shown and 'id="desk-record"' in shown
    assert re.search(rf'id="desk-grams-{heroin.pk}"[^>]*\bautofocus', shown)
    # A reload is a GET: the member is still there, the cursor waits for the next code.
    again = desk_client.get(DESK).content.decode()
    assert member.display_code in again and not re.search(r'id="desk-grams-\d+"[^>]*\bautofocus', again)
    # A code not found is answered on the spot, kept in its box, nothing redirected.
    missing = desk_client.post(DESK, {"code": f.MemberFactory.build().code})
    assert missing.status_code == 200 and NOT_FOUND_MESSAGE in missing.content.decode()


def test_renewing_from_the_desks_link_comes_back_to_the_desk_with_the_member_eligible(
    desk_client, member, heroin, group_a, stock
):
    stock(group_a, heroin)
    Member.objects.filter(pk=member.pk).update(renewal_due=timezone.localdate() - dt.timedelta(days=2))
    shown = desk_client.post(DESK, {"code": member.code}, follow=True).content.decode()
    link = re.search(r'<a href="([^"]+)">Renew</a>', shown).group(1).replace("&amp;", "&")
    assert link == reverse("admin:members_member_renew", args=[member.pk]) + f"?next={DESK}"
    response = desk_client.post(link, {"age_attested": "on"})
    assert response.status_code == 302 and response["Location"] == DESK
    back = desk_client.get(DESK).content.decode()
    assert "renewed until" in back and 'id="desk-eligibility">Eligible ' in back and member.display_code in back
    # Only a page of this site: anywhere else, the member page as before.
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED)
    status_url = reverse("admin:members_member_status", args=[member.pk])
    away = desk_client.post(status_url + "?next=https://elsewhere.example/", {"status": "active", "reason": "reinstated"})
    assert away["Location"] == reverse("admin:members_member_change", args=[member.pk])
