"""Rate limits of the status page: tries per member code and per client, in the database.

Every try is counted before its PIN is checked, with one atomic increment per counter, and
refused once a counter is past its limit; a right PIN then clears the code's counter and takes
its try back off the client's. Counting first is what makes the limit hold under concurrent
requests: checking "under the limit?" and counting afterwards would let any number of tries sent
at once through, and a cache's get-then-set increment (Django's database cache has no atomic
one) loses counts the same way. On PostgreSQL the increment's row lock orders concurrent tries;
on SQLite the IMMEDIATE transaction mode serialises them. The counters live in the database
every server shares, whatever cache is configured.

Keys never hold a member code or an IP address in clear: both are replaced by an HMAC keyed
with ``SECRET_KEY``, and counters expire after the lockout period (see ``models``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from compassionclub.security.client_ip import client_ip_address
from distributions.status_page.models import AttemptCounter

# Failed tries allowed before a lockout, and how long a lockout lasts. A 6-digit PIN with 5 tries
# per code per 15 minutes would take years to guess on average.
MAX_FAILURES_PER_CODE = getattr(settings, "STATUS_PAGE_MAX_FAILURES_PER_CODE", 5)
MAX_FAILURES_PER_CLIENT = getattr(settings, "STATUS_PAGE_MAX_FAILURES_PER_CLIENT", 20)
LOCKOUT_SECONDS = getattr(settings, "STATUS_PAGE_LOCKOUT_SECONDS", 15 * 60)


def _digest(kind: str, value: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"status-page:{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}:{mac.hexdigest()[:40]}"


def keys_for(request: HttpRequest, code: str) -> tuple[str, str]:
    """(client key, code key). The client is the address the trusted proxies report, by the
    same rule as the staff sign-in lockout."""
    return _digest("client", client_ip_address(request) or "unknown"), _digest("code", code)


def count(key: str) -> int:
    """Tries counted against ``key`` in its current window."""
    row = AttemptCounter.objects.filter(key=key, expires_at__gt=timezone.now()).values_list("count", flat=True)
    return row.first() or 0


def _bump(key: str, now: dt.datetime) -> int:
    """Add one try to ``key``'s window (starting a new window if there is none or it has
    expired) and return the count with it. Call inside a transaction."""
    expires_at = now + dt.timedelta(seconds=LOCKOUT_SECONDS)
    for _ in range(3):
        # The lock is held until commit: no other request counts on this key in between.
        row = AttemptCounter.objects.select_for_update().filter(key=key).first()
        if row is not None:
            if row.expires_at > now:
                AttemptCounter.objects.filter(key=key).update(count=F("count") + 1)
                return row.count + 1
            AttemptCounter.objects.filter(key=key).update(count=1, expires_at=expires_at)
            return 1
        try:
            with transaction.atomic():
                AttemptCounter.objects.create(key=key, count=1, expires_at=expires_at)
            return 1
        except IntegrityError:
            continue  # another request's first try made the row meanwhile: lock it and count on it
    raise RuntimeError("The attempt counter could not be written.")


def attempt(client_key: str, code_key: str) -> bool:
    """Count one try against the client and the code; False if either is past its limit."""
    now = timezone.now()
    AttemptCounter.objects.filter(expires_at__lte=now - dt.timedelta(seconds=LOCKOUT_SECONDS)).delete()
    with transaction.atomic():
        # Always in this order, so two requests never wait on each other's second lock.
        client_tries = _bump(client_key, now)
        code_tries = _bump(code_key, now)
    return client_tries <= MAX_FAILURES_PER_CLIENT and code_tries <= MAX_FAILURES_PER_CODE


def succeeded(client_key: str, code_key: str) -> None:
    """A right code and PIN: the code starts afresh and the try is not held against the client."""
    with transaction.atomic():
        AttemptCounter.objects.filter(key=client_key, count__gt=0).update(count=F("count") - 1)
        AttemptCounter.objects.filter(key=code_key).delete()
