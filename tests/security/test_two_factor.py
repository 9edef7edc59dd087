"""With REQUIRE_2FA (production), a password alone reaches nothing in the admin: staff enrol
an authenticator (QR code, confirmed with a code), then verify each session with a code or a
single-use backup code."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.models import AuditRecord
from compassionclub.security import services

TWO_FACTOR = "/admin/two-factor/"


def _code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


@pytest.fixture
def required(settings):
    settings.REQUIRE_2FA = True


@pytest.fixture
def enrolled(alice):
    device = TOTPDevice.objects.create(user=alice, name="phone", confirmed=True)
    services.backup_codes_regenerate(user=alice)
    return device


@pytest.mark.django_db
def test_a_password_alone_reaches_only_the_two_factor_page(client, alice, required):
    client.force_login(alice)
    for url in ("/admin/", reverse("admin:members_member_changelist"), reverse("admin:members_member_add")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(TWO_FACTOR)
    assert client.post(reverse("admin:members_member_add"), {}).status_code == 302


@pytest.mark.django_db
def test_the_admin_site_refuses_an_unverified_session_even_without_the_middleware(alice, required):
    request = RequestFactory().get("/admin/")
    request.user = alice
    alice.is_verified = lambda: False
    assert admin.site.has_permission(request) is False
    alice.is_verified = lambda: True
    assert admin.site.has_permission(request) is True


@pytest.mark.django_db
def test_enrolment_shows_a_qr_code_and_confirming_a_code_opens_the_admin(client, alice, required):
    client.force_login(alice)
    page = client.get(TWO_FACTOR + "?next=/admin/members/member/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body and "<script" not in body.split("<svg", 1)[1].split("</svg>", 1)[0]
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert client.post(TWO_FACTOR, {"token": "000000"}).status_code == 400
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    posted = client.post(TWO_FACTOR, {"token": _code(device), "next": "/admin/members/member/"})
    # Post/redirect/get: the codes are shown by the GET after the POST, once.
    assert posted.status_code == 302 and posted["Location"] == TWO_FACTOR + "?next=%2Fadmin%2Fmembers%2Fmember%2F"
    done = client.get(posted["Location"])
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    assert 'href="/admin/members/member/"' in done.content.decode()
    again = client.get(posted["Location"]).content.decode()
    assert not any(code in again for code in codes)
    assert TOTPDevice.objects.get(user=alice).confirmed
    assert client.get("/admin/").status_code == 200
    record = AuditRecord.objects.get(action="user.two_factor_enrolled")
    for code in codes:
        assert code not in str(record.new)
    assert device.key not in str(record.new)


@pytest.mark.django_db
def test_a_wrong_code_is_refused_and_audited(client, alice, enrolled, required):
    client.force_login(alice)
    response = client.post(TWO_FACTOR, {"token": "123456"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302
    assert AuditRecord.objects.filter(action="auth.two_factor_failed", actor=alice).exists()


@pytest.mark.django_db
def test_a_code_from_the_app_verifies_the_session(client, alice, enrolled, required):
    client.force_login(alice)
    response = client.post(TWO_FACTOR, {"token": _code(enrolled), "next": "/admin/members/member/"})
    assert response.status_code == 302 and response["Location"] == "/admin/members/member/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_backup_code_works_once(client, alice, enrolled, required):
    code = StaticToken.objects.filter(device__user=alice).first().token
    client.force_login(alice)
    assert client.post(TWO_FACTOR, {"token": code}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.logout()
    client.force_login(alice)
    assert client.post(TWO_FACTOR, {"token": code}).status_code == 400


@pytest.mark.django_db
def test_next_cannot_send_the_user_off_site(client, alice, enrolled, required):
    client.force_login(alice)
    response = client.post(TWO_FACTOR, {"token": _code(enrolled), "next": "https://evil.example/admin/"})
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_a_programme_admin_resets_a_lost_authenticator_and_the_user_enrols_again(client, alice, pat, enrolled, required):
    services.two_factor_reset(user=alice, by=pat)
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticToken.objects.filter(device__user=alice).exists()
    client.force_login(alice)
    page = client.get(TWO_FACTOR)
    assert "<svg" in page.content.decode()


@pytest.mark.django_db
def test_a_coordinator_cannot_reset_anyone_elses_two_factor(alice, bob, enrolled):
    from compassionclub.errors import ServiceError

    with pytest.raises(ServiceError) as exc:
        services.two_factor_reset(user=alice, by=bob)
    assert exc.value.code == "not_user_admin"
    assert TOTPDevice.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_two_factor_is_off_in_development_and_on_in_production(settings):
    from compassionclub import settings as project_settings

    assert project_settings.REQUIRE_2FA == project_settings.PRODUCTION


@pytest.mark.django_db
def test_new_backup_codes_are_shown_once_and_reloading_makes_no_new_set(client, alice, enrolled):
    client.force_login(alice)
    client.post(TWO_FACTOR, {"token": _code(enrolled)})
    posted = client.post(TWO_FACTOR, {"action": "regenerate"})
    assert posted.status_code == 302
    shown = client.get(posted["Location"])
    codes = shown.context["codes"]
    assert sorted(codes) == sorted(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    reloaded = client.get(posted["Location"])
    assert reloaded.context.get("codes") is None
    assert not any(code in reloaded.content.decode() for code in codes)
    assert sorted(codes) == sorted(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
