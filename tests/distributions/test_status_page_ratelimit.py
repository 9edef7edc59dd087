"""The status page's try counters: counted before the PIN is checked, atomically, per fixed
window, behind proxies by the real client address."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from distributions.status_page import ratelimit
from distributions.status_page.models import AttemptCounter
from members.codes import generate_code
from tests import factories as f

URL = "/status/"
PIN = "482915"


@pytest.fixture
def member(group_a, alice, pin_hash):
    return f.MemberFactory(group=group_a, created_by=alice, pin=pin_hash)


def post(client, code, pin):
    token = client.get(URL).cookies["csrftoken"].value
    return client.post(URL, {"code": code, "pin": pin, "csrfmiddlewaretoken": token})


def test_right_pins_never_lock_a_client_out(member):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9")
    for _ in range(ratelimit.MAX_FAILURES_PER_CLIENT + 2):
        assert post(client, member.code, PIN).status_code == 200
    client_key, _ = ratelimit.keys_for(post(client, member.code, PIN).wsgi_request, member.code)
    assert ratelimit.count(client_key) == 0


def test_a_window_ends_and_counting_starts_again(db):
    key = "code:test"
    assert [ratelimit._bump(key, timezone.now()) for _ in range(3)] == [1, 2, 3]
    AttemptCounter.objects.filter(key=key).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert ratelimit.count(key) == 0
    assert ratelimit._bump(key, timezone.now()) == 1


def test_a_lockout_lasts_the_window_from_the_first_failure_then_ends(member):
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.10")
    for _ in range(ratelimit.MAX_FAILURES_PER_CODE):
        post(client, member.code, "730194")
    assert post(client, member.code, PIN).status_code == 429
    AttemptCounter.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert "You can pick up" in post(client, member.code, PIN).content.decode()


def test_long_expired_counters_are_deleted_as_new_tries_come_in(db):
    old = timezone.now() - dt.timedelta(seconds=ratelimit.LOCKOUT_SECONDS + 1)
    AttemptCounter.objects.create(key="client:old", count=3, expires_at=old)
    ratelimit.attempt("client:new", "code:new")
    assert set(AttemptCounter.objects.values_list("key", flat=True)) == {"client:new", "code:new"}


def test_behind_a_proxy_each_member_is_counted_by_their_own_address(settings, member):
    settings.PROXY_COUNT = 1
    proxy = "10.0.0.2"
    first = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    for _ in range(ratelimit.MAX_FAILURES_PER_CLIENT):
        post(first, generate_code(), "730194")
    assert post(first, member.code, PIN).status_code == 429
    # The load balancer's own address is not the client: the next member still gets in.
    assert post(second, member.code, PIN).status_code == 200
    # A client cannot pick its address by sending the header itself.
    spoofed = Client(enforce_csrf_checks=True, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="192.0.2.9, 198.51.100.1")
    assert post(spoofed, member.code, PIN).status_code == 429


@pytest.mark.concurrency
@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="real concurrent writers need PostgreSQL (SQLite serialises them by its IMMEDIATE mode)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_tries_are_each_counted_once():
    threads_n = 12
    barrier = threading.Barrier(threads_n)
    allowed: list[bool] = []
    errors: list[str] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            allowed.append(ratelimit.attempt("client:race", "code:race"))
        except Exception as error:  # reported below; a thread must not die silently
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert ratelimit.count("code:race") == ratelimit.count("client:race") == threads_n
    # Only as many tries as the limit got through, however many arrived at once.
    assert allowed.count(True) == ratelimit.MAX_FAILURES_PER_CODE
