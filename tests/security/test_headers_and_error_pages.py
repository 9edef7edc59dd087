"""CSP and the other security headers on every kind of response (admin HTML, login, JSON,
redirects, errors, plain text, the status page), no-store on everything dynamic, secure
cookies in production mode, and error pages that reveal nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + "Zq8#vX2!mR7@pL4$wN9%tB6^yH3&jF5*cD1(" + "s" * 10


def _csp(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip() for part in header.split(";") if part.strip()}


def _assert_headers(response, url: str) -> None:
    csp = _csp(response)
    assert "unsafe-inline" not in response["Content-Security-Policy"], url
    assert "unsafe-eval" not in response["Content-Security-Policy"], url
    assert csp["object-src"] == "object-src 'none'", url
    assert csp["base-uri"] == "base-uri 'none'", url
    assert csp["frame-ancestors"] == "frame-ancestors 'none'", url
    assert response["X-Content-Type-Options"] == "nosniff", url
    assert response["Referrer-Policy"] == "same-origin", url
    assert response["X-Frame-Options"] == "DENY", url
    assert "no-store" in response["Cache-Control"], url


@pytest.mark.django_db
def test_every_response_type_carries_the_security_headers(client, alice, dataset):
    anonymous = Client()
    responses = {
        "login page": anonymous.get(reverse("admin:login")),
        "redirect to login": anonymous.get("/admin/"),
        "not found": anonymous.get("/no-such-page/"),
        "health": anonymous.get("/healthz"),
    }
    responses["status page"] = anonymous.get(reverse("status_page"))
    responses["status page answer"] = anonymous.post(reverse("status_page"), {"code": "0000-0000-0000", "pin": "000000"})
    client.force_login(alice)
    responses.update(
        {
            "admin index": client.get("/admin/"),
            "changelist": client.get(reverse("admin:members_member_changelist")),
            "change page": client.get(reverse("admin:members_member_change", args=[dataset["member_a"].pk])),
            "refused": client.get(reverse("admin:audit_auditrecord_changelist")),
            "autocomplete json": client.get(
                reverse("admin:autocomplete"),
                {"app_label": "members", "model_name": "member", "field_name": "group", "term": ""},
            ),
        }
    )
    assert responses["refused"].status_code == 403
    assert responses["autocomplete json"]["Content-Type"] == "application/json"
    for name, response in responses.items():
        _assert_headers(response, name)


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_configured(settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = Client().get(reverse("admin:login"), secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_production_mode_turns_on_hsts_secure_cookies_and_two_factor():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_DEBUG"}}
    env.update({"DJANGO_ENV": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "ledger.example.org"})
    names = [
        "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "CSRF_COOKIE_SAMESITE",
        "REQUIRE_2FA", "DEMO_ACCOUNTS_ALLOWED", "DEBUG", "SECURE_CONTENT_TYPE_NOSNIFF",
    ]
    code = f"from django.conf import settings; import json; print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["CSRF_COOKIE_SECURE"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SESSION_COOKIE_SAMESITE"] in {"Lax", "Strict"} and values["CSRF_COOKIE_SAMESITE"] in {"Lax", "Strict"}
    assert values["REQUIRE_2FA"] is True and values["DEMO_ACCOUNTS_ALLOWED"] is False and values["DEBUG"] is False


@pytest.mark.django_db
def test_session_cookie_is_httponly_and_samesite(client, alice):
    response = client.post(
        reverse("admin:login"), {"username": "alice", "password": "correct horse battery staple", "next": "/admin/"}
    )
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.django_db
def test_a_404_reveals_nothing_about_the_request(client):
    response = client.get("/admin-secrets/0123456789AB/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Not found" in body and "0123456789AB" not in body and "admin-secrets" not in body


@pytest.mark.django_db
def test_a_server_error_shows_the_generic_page_without_details(settings):
    settings.ROOT_URLCONF = "tests.security.urls_failing"
    client = Client(raise_request_exception=False)
    response = client.get("/fails/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "secret detail" not in body and "Traceback" not in body and "RuntimeError" not in body


@pytest.mark.django_db
def test_a_bad_csrf_token_gets_the_generic_403(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse("admin:members_member_add"), {})
    assert response.status_code == 403
    assert "CSRF" not in response.content.decode()
