"""One-time two-factor enrolment codes.

In production a new staff account (or one whose authenticator was reset) cannot enrol an
authenticator on its password alone: whoever knew the password first would enrol their own
phone. A programme admin issues an enrolment code and hands it over in person; it is shown once,
stored only as a password hash, valid ``TWO_FACTOR_ENROLMENT_CODE_HOURS`` (72 by default) and
deleted when used. One code per user at a time: issuing another replaces it.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class EnrolmentCode(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_code")
    code_hash = models.CharField(max_length=128)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"enrolment code for user {self.user_id} until {timezone.localtime(self.expires_at):%Y-%m-%d %H:%M}"
