"""Sessions: a new key at login, 30 minutes idle, an absolute lifetime, logout ends the
session on the server, and a programme admin can end another user's sessions."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as live_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.security.middleware import SESSION_STARTED_KEY

PASSWORD = "correct horse battery staple"


def test_idle_timeout_is_thirty_minutes_renewed_on_every_request():
    assert live_settings.SESSION_COOKIE_AGE == 30 * 60
    assert live_settings.SESSION_SAVE_EVERY_REQUEST is True
    assert 0 < live_settings.SESSION_ABSOLUTE_SECONDS <= 12 * 60 * 60


@pytest.mark.django_db
def test_the_session_key_changes_at_login(client, alice):
    session = client.session
    session["before_login"] = True
    session.save()
    before = session.session_key
    client.cookies[live_settings.SESSION_COOKIE_NAME] = before
    response = client.post(reverse("admin:login"), {"username": "alice", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    after = client.cookies[live_settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()


@pytest.mark.django_db
def test_a_session_ends_after_its_absolute_lifetime_however_active(client, alice, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 3600
    client.force_login(alice)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - 3601
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in client.session
    assert AuditRecord.objects.filter(action="auth.session_expired", actor=alice).exists()


@pytest.mark.django_db
def test_logout_deletes_the_session_on_the_server(client, alice):
    client.force_login(alice)
    key = client.session.session_key
    assert Session.objects.filter(session_key=key).exists()
    client.post(reverse("admin:logout"))
    assert not Session.objects.filter(session_key=key).exists()
    # Replaying the old cookie gets nowhere.
    replay = Client()
    replay.cookies[live_settings.SESSION_COOKIE_NAME] = key
    assert replay.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_a_programme_admin_ends_all_of_a_users_sessions(alice, pat):
    phone, laptop, admin_client = Client(), Client(), Client()
    phone.force_login(alice)
    laptop.force_login(alice)
    admin_client.force_login(pat)
    assert phone.get("/admin/").status_code == 200
    response = admin_client.post(
        reverse("admin:auth_user_changelist"), {"action": "end_sessions", "_selected_action": [alice.pk]}
    )
    assert response.status_code == 302
    assert phone.get("/admin/").status_code == 302
    assert laptop.get("/admin/").status_code == 302
    assert admin_client.get("/admin/").status_code == 200
    record = AuditRecord.objects.get(action="user.sessions_ended")
    assert record.actor == pat and record.new == {"sessions_ended": 2}


@pytest.mark.django_db
def test_a_coordinator_cannot_end_other_users_sessions(client, alice, bob):
    client.force_login(alice)
    response = client.post(reverse("admin:auth_user_changelist"), {"action": "end_sessions", "_selected_action": [bob.pk]})
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_programme_admin_cannot_grant_superuser_or_take_over_a_superuser(client, pat, root, alice):
    client.force_login(pat)
    assert client.get(reverse("admin:auth_user_change", args=[root.pk])).status_code in (200, 403)
    page = client.get(reverse("admin:auth_user_change", args=[root.pk]))
    assert 'name="username"' not in page.content.decode()
    assert client.get(reverse("admin:auth_user_password_change", args=[root.pk])).status_code == 403
    page = client.get(reverse("admin:auth_user_change", args=[alice.pk]))
    assert page.status_code == 200 and 'name="is_superuser"' not in page.content.decode()
