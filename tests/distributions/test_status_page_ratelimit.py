"""The status page's try counters: counted before the PIN is checked, atomically; no single
address can lock a member out; many addresses lock a code for a bounded, growing delay; PIN
guesses per code stay few an hour whatever the number of addresses; no address is stored."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from distributions.status_page import ratelimit
from distributions.status_page.models import AttemptCounter
from members.codes import generate_code
from tests import factories as f

URL = "/status/"
PIN = "482915"
WRONG = "730194"


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def post(client, code, pin):
    token = client.get(URL).cookies["csrftoken"].value
    return client.post(URL, {"code": code, "pin": pin, "csrfmiddlewaretoken": token})


def from_address(address: str) -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=address)


def end_every_window(now: dt.datetime | None = None) -> None:
    """Move every counter's window and lock into the past, as if an hour or more went by."""
    past = (now or timezone.now()) - dt.timedelta(seconds=1)
    AttemptCounter.objects.update(expires_at=past)


def test_right_pins_never_lock_a_client_out(member):
    client = from_address("203.0.113.9")
    for _ in range(ratelimit.CLIENT_LIMIT + 2):
        assert post(client, member.code, PIN).status_code == 200
    keys = ratelimit.keys_for(post(client, member.code, PIN).wsgi_request, member.code)
    assert ratelimit.count(keys.client) == 0


def test_a_blocked_address_hammering_a_code_does_not_lock_its_member_out(member):
    """The attack: one address, already over its own limit, keeps posting a member's code."""
    attacker = from_address("198.51.100.66")
    for _ in range(ratelimit.CLIENT_LIMIT):
        post(attacker, generate_code(), WRONG)
    for _ in range(50):
        assert post(attacker, member.code, WRONG).status_code == 429
    assert post(from_address("192.0.2.10"), member.code, PIN).status_code == 200


def test_one_address_alone_never_locks_a_code_however_long_it_tries(member):
    attacker = from_address("198.51.100.67")
    for _hour in range(8):
        answers = [post(attacker, member.code, WRONG).status_code for _ in range(ratelimit.PAIR_LIMIT + 2)]
        # Its own tries on this code stop at the limit; the code itself is never locked.
        assert answers == [200] * ratelimit.PAIR_LIMIT + [429, 429]
        keys = ratelimit.keys_for(post(attacker, member.code, WRONG).wsgi_request, member.code)
        assert ratelimit.count(keys.lock) == 0
        end_every_window()
    assert "You can pick up" in post(from_address("192.0.2.11"), member.code, PIN).content.decode()


def test_an_address_refused_on_one_code_can_still_check_another(member):
    shared = from_address("203.0.113.40")  # a shelter's wifi: several members, one address
    for _ in range(ratelimit.PAIR_LIMIT):
        post(shared, generate_code(), WRONG)
    assert post(shared, member.code, PIN).status_code == 200


def test_many_addresses_lock_a_code_for_a_growing_delay_that_stops_growing(member):
    now = timezone.now()
    delays = []
    for round_ in range(8):
        for i in range(ratelimit.PAIR_LIMIT + 1):
            keys = ratelimit.keys_for_address(f"198.51.{round_}.{i}", member.code)
            assert ratelimit.attempt(keys, now=now).allowed
        refused = ratelimit.attempt(ratelimit.keys_for_address("192.0.2.99", member.code), now=now)
        assert not refused.allowed
        delays.append(round(refused.retry_after.total_seconds() / 60))
        now += refused.retry_after + dt.timedelta(seconds=1)
    assert delays == [5, 10, 20, 40, 60, 60, 60, 60]
    # After the lock the member gets in, from anywhere.
    assert ratelimit.attempt(ratelimit.keys_for_address("192.0.2.12", member.code), now=now).allowed


def test_a_locked_code_tells_nothing_about_whether_it_exists(member):
    unknown = generate_code()
    for code in (member.code, unknown):
        for i in range(ratelimit.PAIR_LIMIT + 1):
            post(from_address(f"198.51.100.{i}"), code, WRONG)
    real, made_up = (post(from_address("192.0.2.13"), code, PIN) for code in (member.code, unknown))
    assert real.status_code == made_up.status_code == 429
    # Both locks are the same length; the two were set a moment apart, so the seconds left may
    # straddle a second's boundary.
    assert abs(int(real["Retry-After"]) - int(made_up["Retry-After"])) <= 1
    assert "Too many tries" in real.content.decode() and "at the desk" in real.content.decode()
    assert "You can pick up" not in real.content.decode()


def test_pin_guesses_per_code_stay_a_few_an_hour_whatever_the_number_of_addresses(member):
    """A fresh address for every try, tries every minute for five hours: the PIN is checked at
    most 16 times in the first hour and 4 times in any later hour (108 in a day)."""
    start = timezone.now()
    checked_per_hour = [0] * 5
    address = 0
    for minute in range(5 * 60):
        now = start + dt.timedelta(minutes=minute)
        while True:
            address += 1
            keys = ratelimit.keys_for_address(f"10.{address // 65536}.{address // 256 % 256}.{address % 256}",
                                              member.code)
            if not ratelimit.attempt(keys, now=now).allowed:
                break
            checked_per_hour[minute // 60] += 1
    assert checked_per_hour[0] == 16
    assert max(checked_per_hour[1:]) == ratelimit.PAIR_LIMIT + 1


def test_the_desk_serves_a_member_whose_code_is_locked_on_the_status_page(member, client, alice):
    for i in range(ratelimit.PAIR_LIMIT + 1):
        post(from_address(f"198.51.100.{i}"), member.code, WRONG)
    assert post(from_address("192.0.2.14"), member.code, PIN).status_code == 429
    client.force_login(alice)
    response = client.post(reverse("admin:distributions_desk"), {"code": member.code}, follow=True)
    assert response.status_code == 200
    assert member.display_code in response.content.decode()


def test_no_address_is_stored_and_digests_change_every_day(member):
    post(from_address("203.0.113.77"), member.code, WRONG)
    stored = " ".join(AttemptCounter.objects.values_list("key", flat=True))
    assert "203.0.113.77" not in stored and member.code not in stored
    today = timezone.now().date()
    same_day = ratelimit.keys_for_address("203.0.113.77", member.code, today=today)
    next_day = ratelimit.keys_for_address("203.0.113.77", member.code, today=today + dt.timedelta(days=1))
    assert same_day.client in stored
    assert next_day.client != same_day.client and next_day.window == same_day.window


def test_an_ipv6_subscriber_counts_as_one_address_for_its_whole_prefix(member):
    for i in range(ratelimit.PAIR_LIMIT):
        post(from_address(f"2001:db8:1:2::{i + 1:x}"), member.code, WRONG)
    assert post(from_address("2001:db8:1:2:ffff::1"), member.code, WRONG).status_code == 429
    assert post(from_address("2001:db8:1:3::1"), member.code, WRONG).status_code == 200


def test_a_window_ends_and_counting_starts_again(member):
    client = from_address("203.0.113.10")
    for _ in range(ratelimit.PAIR_LIMIT):
        post(client, member.code, WRONG)
    assert post(client, member.code, PIN).status_code == 429
    end_every_window()
    assert "You can pick up" in post(client, member.code, PIN).content.decode()


def test_expired_counters_are_deleted_as_new_tries_come_in(db):
    AttemptCounter.objects.create(key="client:old", count=3, expires_at=timezone.now() - dt.timedelta(seconds=1))
    ratelimit.attempt(ratelimit.keys_for_address("192.0.2.1", "ABC"))
    assert "client:old" not in set(AttemptCounter.objects.values_list("key", flat=True))


def test_behind_a_proxy_each_member_is_counted_by_their_own_address(settings, member):
    settings.PROXY_COUNT = 1
    proxy = "10.0.0.2"
    first = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    for _ in range(ratelimit.CLIENT_LIMIT):
        post(first, generate_code(), WRONG)
    assert post(first, member.code, PIN).status_code == 429
    # The load balancer's own address is not the client: the next member still gets in.
    assert post(second, member.code, PIN).status_code == 200
    # A client cannot pick its address by sending the header itself.
    spoofed = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.9, 198.51.100.1")
    assert post(spoofed, member.code, PIN).status_code == 429


def _race(keys_of_thread) -> list[bool]:
    threads_n = 12
    barrier = threading.Barrier(threads_n)
    allowed: list[bool] = []
    errors: list[str] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            allowed.append(ratelimit.attempt(keys_of_thread(i)).allowed)
        except Exception as error:  # reported below; a thread must not die silently
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    return allowed


needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent writers need PostgreSQL (SQLite serialises them by its IMMEDIATE mode)")


@pytest.mark.concurrency
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tries_from_many_addresses_check_the_pin_only_as_often_as_the_limit():
    allowed = _race(lambda i: ratelimit.keys_for_address(f"198.51.100.{i}", "RACE"))
    assert allowed.count(True) == ratelimit.PAIR_LIMIT + 1
    assert ratelimit.count(ratelimit.keys_for_address("192.0.2.1", "RACE").lock) == 1


@pytest.mark.concurrency
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tries_from_one_address_are_each_counted_once():
    allowed = _race(lambda i: ratelimit.keys_for_address("198.51.100.1", "RACE"))
    assert allowed.count(True) == ratelimit.PAIR_LIMIT
    keys = ratelimit.keys_for_address("198.51.100.1", "RACE")
    assert ratelimit.count(keys.client) == ratelimit.count(keys.window) == ratelimit.PAIR_LIMIT
    assert ratelimit.count(keys.lock) == 0
