"""In production an authenticator is enrolled only with a one-time code a programme admin hands
over in person: whoever first knew a new account's password enrolled their own phone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.models import AuditRecord
from compassionclub.security.models import EnrolmentCode

TWO_FACTOR = "/admin/two-factor/"


@pytest.fixture
def production_enrolment(settings):
    settings.REQUIRE_2FA = True
    settings.TWO_FACTOR_ENROLMENT_CODE_REQUIRED = True


def issue(client, pat, user, settings=None) -> str:
    """Through the admin action, as a programme admin whose session passed two-factor."""
    from django_otp.plugins.otp_static.models import StaticDevice

    device = StaticDevice.objects.get_or_create(user=pat, name="test", defaults={"confirmed": True})[0]
    client.force_login(pat)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    response = client.post(reverse("admin:auth_user_changelist"),
                           {"action": "issue_enrolment_code", "_selected_action": [user.pk]})
    assert response.status_code == 302
    page = client.get(response["Location"])
    code = page.context["code"]
    # Shown once: a reload shows it no more.
    assert code not in client.get(response["Location"], follow=True).content.decode()
    client.logout()
    return code


@pytest.mark.django_db
def test_a_password_alone_cannot_enrol_an_authenticator(client, alice, production_enrolment):
    client.force_login(alice)
    page = client.get(TWO_FACTOR)
    assert "Enrolment code" in page.content.decode() and "qr-code" not in page.content.decode()
    assert not TOTPDevice.objects.filter(user=alice).exists()  # no key was made, so none was shown
    assert client.post(TWO_FACTOR, {"token": "123456"}).status_code == 400
    assert client.post(TWO_FACTOR, {"enrolment_code": "AAAA-BBBB-CCCC"}).status_code == 400
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_a_code_from_a_programme_admin_opens_enrolment_once(client, alice, pat, production_enrolment):
    code = issue(client, pat, alice)
    row = EnrolmentCode.objects.get(user=alice)
    assert code not in row.code_hash and check_password(code.replace("-", ""), row.code_hash)
    assert dt.timedelta(hours=71) < row.expires_at - timezone.now() <= dt.timedelta(hours=72)
    assert not any(code in str(r.new) for r in AuditRecord.objects.all())
    client.force_login(alice)
    redeemed = client.post(TWO_FACTOR, {"enrolment_code": code.lower()})
    assert redeemed.status_code == 302
    assert "qr-code" in client.get(redeemed["Location"]).content.decode()
    assert not EnrolmentCode.objects.filter(user=alice).exists()
    # The same code does not work twice (another session, or someone who saw the paper later).
    client.logout()
    client.force_login(alice)
    assert client.post(TWO_FACTOR, {"enrolment_code": code}).status_code == 400


@pytest.mark.django_db
def test_an_expired_code_leaves_the_account_unusable_until_a_new_one(client, alice, pat, production_enrolment):
    code = issue(client, pat, alice)
    EnrolmentCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    client.force_login(alice)
    refused = client.post(TWO_FACTOR, {"enrolment_code": code})
    assert refused.status_code == 400 and "expired" in refused.content.decode()
    new = issue(client, pat, alice)
    client.force_login(alice)
    assert client.post(TWO_FACTOR, {"enrolment_code": new}).status_code == 302


@pytest.mark.django_db
def test_a_coordinator_cannot_issue_codes_and_the_first_admin_gets_one_from_the_command(alice, bob, capsys):
    from compassionclub.errors import ServiceError
    from compassionclub.security import services

    with pytest.raises(ServiceError):
        services.enrolment_code_issue(user=bob, by=alice)
    call_command("enrolment_code", "bob")
    assert "Enrolment code for bob:" in capsys.readouterr().out
    assert EnrolmentCode.objects.filter(user=bob).exists()


def test_codes_are_required_in_production_only():
    from compassionclub import settings as project_settings

    assert project_settings.TWO_FACTOR_ENROLMENT_CODE_REQUIRED == project_settings.PRODUCTION
