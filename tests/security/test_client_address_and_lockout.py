"""django-axes locks a username + address pair, and the address is the real client's: with
no proxy X-Forwarded-For is ignored, behind one proxy the right-most entry counts."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.security.client_ip import client_ip_address

PASSWORD = "correct horse battery staple"


def _login(client, username: str, password: str, **headers):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, **headers
    )


def _fail(client, username: str, times: int, **headers):
    for _ in range(times):
        _login(client, username, "wrong password!!", **headers)


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


def test_without_a_proxy_the_forwarded_header_is_ignored(settings):
    settings.PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert client_ip_address(request) == "10.0.0.9"


def test_behind_one_proxy_the_right_most_forwarded_address_is_the_client(settings):
    settings.PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4")
    assert client_ip_address(request) == "198.51.100.4"


def test_behind_two_proxies_the_second_from_the_right_is_the_client(settings):
    settings.PROXY_COUNT = 2
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.4, 10.0.0.2")
    assert client_ip_address(request) == "198.51.100.4"


def test_a_garbage_or_missing_forwarded_header_falls_back_to_the_socket(settings):
    settings.PROXY_COUNT = 1
    rf = RequestFactory()
    assert client_ip_address(rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")) == "10.0.0.1"
    assert client_ip_address(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"


@pytest.mark.django_db
def test_too_many_failures_lock_the_username_from_that_address(client, alice, limit, settings):
    settings.PROXY_COUNT = 0
    _fail(client, "alice", limit, REMOTE_ADDR="192.0.2.10")
    response = _login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_lockout_does_not_reach_the_owner_at_another_address(client, alice, limit, settings):
    settings.PROXY_COUNT = 0
    _fail(client, "alice", limit, REMOTE_ADDR="192.0.2.10")
    response = _login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.99")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


@pytest.mark.django_db
def test_without_a_proxy_a_forged_forwarded_header_neither_escapes_nor_spreads_a_lockout(client, alice, limit, settings):
    settings.PROXY_COUNT = 0
    # Each failure claims a different forwarded address; all count against the real socket.
    for i in range(limit):
        _login(client, "alice", "wrong password!!", REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    assert AccessAttempt.objects.filter(ip_address="192.0.2.10").exists()
    assert not AccessAttempt.objects.filter(ip_address__startswith="203.0.113.").exists()
    locked = _login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert locked.status_code == 429
    # Forging the victim's address in the header does not lock the victim out.
    client.logout()
    ok = _login(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.1")
    assert ok.status_code == 302


@pytest.mark.django_db
def test_behind_a_proxy_each_client_is_locked_on_its_own_address(client, alice, limit, settings):
    settings.PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    _fail(client, "alice", limit, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.4", **proxy)
    assert AccessAttempt.objects.filter(ip_address="198.51.100.4").exists()
    locked = _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="9.9.9.9, 198.51.100.4", **proxy)
    assert locked.status_code == 429
    # Another client behind the same proxy (so the same REMOTE_ADDR) is not locked out.
    ok = _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.77", **proxy)
    assert ok.status_code == 302


@pytest.mark.django_db
def test_failed_and_successful_logins_are_audited_with_the_client_address(client, alice, settings):
    settings.PROXY_COUNT = 1
    _login(client, "alice", "wrong password!!", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4")
    _login(client, "alice", PASSWORD, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.4")
    failed = AuditRecord.objects.get(action="auth.login_failed")
    assert failed.new == {"username": "alice"}
    assert failed.ip_address == "198.51.100.4"
    assert "wrong password" not in str(failed.new) + str(failed.old)
    ok = AuditRecord.objects.get(action="auth.login")
    assert ok.actor == alice and ok.ip_address == "198.51.100.4"


def test_the_production_hasher_is_argon2_and_passwords_need_twelve_characters():
    from django.contrib.auth.password_validation import get_default_password_validators

    from compassionclub import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    minimum = [v for v in get_default_password_validators() if v.__class__.__name__ == "MinimumLengthValidator"]
    assert minimum and minimum[0].min_length == 12
