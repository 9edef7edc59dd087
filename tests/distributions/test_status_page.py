"""The public member status page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from distributions.services import entry_reverse
from distributions.status_page import ratelimit
from distributions.status_page.models import AttemptCounter
from members.codes import format_code, generate_code
from members.models import Member
from testing_results.services import batch_hold, batch_recall
from tests import factories as f
from tests.builders import Stock, released_stock

URL = "/status/"
PIN = "482915"


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.7")


@pytest.fixture
def member(group_a, alice, pin_hash):
    # pin_hash uses the suite's fast hasher, the same one the dummy hash is made with.
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def csrf(client) -> str:
    response = client.get(URL)
    return response.cookies["csrftoken"].value


def post(client, code, pin, **extra):
    token = csrf(client)
    return client.post(URL, {"code": code, "pin": pin, "csrfmiddlewaretoken": token}, **extra)


def body_without_tokens(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


@pytest.fixture
def stock(erin, dana, pat):
    """Released stock in the member's group, and distributions, through the services."""
    return Stock(checker=erin, officer=dana, admin=pat)


def released(stock, member, heroin):
    return released_stock(member.group, heroin, checker=stock.checker, officer=stock.officer, admin=stock.admin)


def test_the_form_is_served_never_cached_with_labels_and_a_language(client, db):
    response = client.get(URL)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert '<label for="id_code">' in html and '<label for="id_pin">' in html
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    assert "<script" not in html and "style=" not in html


def test_a_right_code_and_pin_show_eligibility_allowance_and_renewal(client, member, heroin, stock):
    batch = stock.batch_for(member.group, heroin)
    stock.hand_out(member, batch, "3.000")
    batch.refresh_from_db()
    label_lines = [line for line in batch.label_text.splitlines() if line.strip()]
    assert batch.code in batch.label_text and label_lines
    response = post(client, member.display_code.lower(), PIN)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "You can pick up today." in html
    assert "11 g left of 14 g per 7 days" in html
    assert "3 g more becomes available on" in html
    assert "Renewal due:" in html
    for line in label_lines:  # the label the release wrote, as printed on the bag
        assert escape(line) in html
    assert "Recall" not in html
    assert PIN not in html


def test_an_unknown_code_and_a_wrong_pin_get_the_same_answer_and_keep_the_code(client, member):
    other = format_code(generate_code())
    wrong_pin = post(client, member.display_code, "730194")
    unknown = post(client, other, "730194")
    empty = post(client, "", "")
    assert wrong_pin.status_code == unknown.status_code == empty.status_code == 200
    # The typed code stays in its field after a failure, so only the PIN needs typing again;
    # apart from that code, as typed, the two answers are the same page.
    assert f'value="{member.display_code}"' in wrong_pin.content.decode()
    assert body_without_tokens(wrong_pin).replace(member.display_code, "CODE") == body_without_tokens(unknown).replace(other, "CODE")
    assert "do not match" in wrong_pin.content.decode()
    for response in (wrong_pin, unknown):
        assert "no-store" in response["Cache-Control"]
        assert set(response.cookies) <= {"csrftoken"}


def test_a_code_whose_check_character_fails_is_called_a_typo_and_costs_no_try(client, member):
    typo = member.code[:-1] + ("0" if member.code[-1] != "0" else "1")
    response = post(client, format_code(typo).lower(), PIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert "This code has a typo" in html and "do not match" not in html
    assert f'value="{format_code(typo).lower()}"' in html
    assert not AttemptCounter.objects.exists()
    # The same for any code with a bad check character: it tells nothing about real codes.
    unknown_typo = generate_code()
    unknown_typo = unknown_typo[:-1] + ("0" if unknown_typo[-1] != "0" else "1")
    assert "This code has a typo" in post(client, unknown_typo, PIN).content.decode()


def test_a_pin_hash_is_checked_even_when_the_code_is_unknown(client, db, monkeypatch):
    from distributions.status_page import views

    calls = []
    real = views.check_password
    monkeypatch.setattr(views, "check_password", lambda pin, hashed: calls.append(hashed) or real(pin, hashed))
    post(client, generate_code(), "730194")
    post(client, "", "730194")
    assert len(calls) == 2 and calls[0] == calls[1] == views._dummy_hash()
    # A code whose check character fails is answered "typo" from the code alone: no lookup.
    post(client, "not a code", "730194")
    assert len(calls) == 2


def test_the_code_and_pin_never_appear_in_urls_or_the_cache(client, member):
    response = post(client, member.code, "730194")
    assert member.code not in response.request["PATH_INFO"] + response.request.get("QUERY_STRING", "")
    keys = ratelimit.keys_for(response.wsgi_request, member.code)
    assert member.code not in keys.window and "203.0.113.7" not in keys.client
    assert ratelimit.count(keys.window) == 1 and ratelimit.count(keys.client) == 1
    stored = set(AttemptCounter.objects.values_list("key", flat=True))
    assert {keys.client, keys.window} < stored and len(stored) == 3  # and the address on the code
    assert not any(member.code in key or "203.0.113.7" in key for key in stored)


def test_a_code_is_locked_after_repeated_failures_even_with_the_right_pin_then(member, settings):
    clients = [Client(enforce_csrf_checks=True, REMOTE_ADDR=f"198.51.100.{i}") for i in range(10)]
    for i in range(ratelimit.PAIR_LIMIT + 1):
        assert post(clients[i], member.code, "730194").status_code == 200
    locked = post(clients[-1], member.code, PIN)
    assert locked.status_code == 429
    assert "Too many tries" in locked.content.decode() and "Try again later" in locked.content.decode()
    assert "You can pick up" not in locked.content.decode()
    # An unknown code locks the same way, so a lockout tells nothing about whether a code exists.
    unknown = generate_code()
    for i in range(ratelimit.PAIR_LIMIT + 1):
        post(clients[i], unknown, "730194")
    assert body_without_tokens(post(clients[-1], unknown, PIN)) == body_without_tokens(locked)


def test_a_client_is_locked_after_repeated_failures_across_codes(client, member):
    for _ in range(ratelimit.CLIENT_LIMIT):
        post(client, generate_code(), "730194")
    response = post(client, member.code, PIN)
    assert response.status_code == 429
    # Another client can still get in.
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="192.0.2.55")
    assert post(other, member.code, PIN).status_code == 200


def test_a_success_clears_the_code_counter(client, member):
    for _ in range(ratelimit.PAIR_LIMIT - 1):
        post(client, member.code, "730194")
    assert "You can pick up" in post(client, member.code, PIN).content.decode()
    assert post(client, member.code, "730194").status_code == 200


def test_the_post_is_refused_without_a_csrf_token(client, member):
    response = client.post(URL, {"code": member.code, "pin": PIN})
    assert response.status_code == 403


def test_a_recalled_batch_the_member_received_is_a_prominent_alert(client, member, heroin, dana, stock):
    recalled = released(stock, member, heroin)
    fine = released(stock, member, heroin)
    stock.hand_out(member, recalled, "2.000", timezone.now() - dt.timedelta(days=20))
    stock.hand_out(member, fine, "2.000")
    batch_recall(batch=recalled, by=dana, reason="Fentanyl found by a later mass spectrometry check.")
    html = post(client, member.code, PIN).content.decode()
    alert = html[: html.index("Your membership")]
    assert 'role="alert"' in alert
    assert "Recall: do not use" in alert and recalled.code in alert
    assert "Fentanyl found by a later mass spectrometry check." in alert
    assert fine.code not in alert
    # Further down, the recalled batch's (clean) check results are marked as out of date.
    received = html[html.index("What you received"):]
    assert received.index("Recalled: do not use. The results below are from before the recall.") < received.index(
        "What the drug checks found", received.index(recalled.code)
    )


def test_a_held_batch_is_an_alert_and_a_reversed_one_is_not(client, member, heroin, stock, alice, dana):
    held = released(stock, member, heroin)
    stock.hand_out(member, held, "3.000")
    batch_hold(batch=held, by=dana, reason="Drug alert under review.")
    reversed_batch = released(stock, member, heroin)
    entry = stock.hand_out(member, reversed_batch, "3.000")
    entry_reverse(entry=entry, reason="wrong_member", by=alice)
    batch_recall(batch=reversed_batch, by=dana, reason="Bromazolam found by a partner lab.")
    html = post(client, member.code, PIN).content.decode()
    assert "On hold: do not use for now" in html and held.code in html
    assert "Drug alert under review." in html
    assert reversed_batch.code not in html


def test_an_ineligible_member_sees_every_reason(client, member):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.SUSPENDED, renewal_due=timezone.localdate() - dt.timedelta(days=1))
    html = post(client, member.code, PIN).content.decode()
    assert "You cannot pick up right now." in html
    assert "suspended" in html and "renewal was due" in html


def test_the_page_is_in_french_when_chosen_on_the_page(client, member, heroin, stock, dana):
    token = csrf(client)
    switched = client.post(reverse("set_language"), {"language": "fr", "next": URL, "csrfmiddlewaretoken": token})
    assert switched.status_code == 302 and switched["Location"] == URL
    form = client.get(URL).content.decode()
    assert '<html lang="fr">' in form
    assert "Code de membre" in form and "Vérifier" in form
    wrong = post(client, member.code, "730194").content.decode()
    assert "ne correspondent pas" in wrong
    recalled = released(stock, member, heroin)
    stock.hand_out(member, recalled, "3.000")
    batch_recall(batch=recalled, by=dana, reason="Fentanyl found.")
    html = post(client, member.code, PIN).content.decode()
    assert "Vous pouvez venir chercher aujourd" in html
    assert "Rappel" in html
    assert "Renouvellement" in html


def test_the_page_follows_the_browser_language(member):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")
    assert '<html lang="fr">' in client.get(URL).content.decode()


def test_grams_are_shown_without_trailing_zeros_in_the_pages_language(client, member, heroin, stock):
    stock.hand_out(member, heroin, "3.500")
    html = post(client, member.code, PIN).content.decode()
    assert "10.5 g left of 14 g per 7 days" in html and "3.5 g more becomes available on" in html
    assert "10.500" not in html and "3.500" not in html
    token = csrf(client)
    client.post(reverse("set_language"), {"language": "fr", "next": URL, "csrfmiddlewaretoken": token})
    french = post(client, member.code, PIN).content.decode()
    assert "Il reste 10,5 g sur 14 g par 7 jours" in french and "Disponible à nouveau le" in french


def test_a_wrong_pin_says_how_many_tries_there_are_and_the_pin_is_not_offered_for_saving(client, member):
    html = post(client, member.code, "730194").content.decode()
    assert f"After {ratelimit.PAIR_LIMIT} wrong tries" in html
    assert 'autocomplete="off"' in html[html.index('name="pin"') - 200 : html.index('name="pin"') + 200]
