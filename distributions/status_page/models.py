"""Counters of tries on the status page, for its rate limits (see ``ratelimit``).

A row per key: a keyed hash (HMAC with ``SECRET_KEY``) of a member code or of a client address,
never either in clear. A counter counts the tries in one fixed window that starts with the
first try and lasts ``LOCKOUT_SECONDS``; expired rows are deleted as new tries come in, so no
row outlives a few minutes of inactivity by much.
"""

from django.db import models


class AttemptCounter(models.Model):
    key = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key[:16]}… {self.count} until {self.expires_at:%H:%M:%S}"
