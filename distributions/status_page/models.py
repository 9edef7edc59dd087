"""Counters of tries on the status page, for its rate limits (see ``ratelimit``).

A row per key: a keyed hash of a member code or of a client address (HMAC, the address one with
a key that changes every day), never either in clear. ``count`` is the failures counted in the
row's window, which ends at ``expires_at``; for a code's lock row it is the lock level and
``locked_until`` the end of the current lock. Rows are deleted once ``expires_at`` has passed
(at the next try, and by ``manage.py purge``), so a client's row lives an hour at most.
"""

from django.db import models
from django.utils import timezone


class AttemptCounter(models.Model):
    key = models.CharField(max_length=64, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:16]}… {self.count} until {timezone.localtime(self.expires_at):%H:%M:%S}"
