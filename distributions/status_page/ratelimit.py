"""Rate limits of the status page: per client, per client and code, and a growing delay per code.

Four counters, each a row of ``AttemptCounter`` under a keyed digest, never a code or an address
in clear:

- ``client``: failed tries from one address (IPv6: its /64) across all codes, at most
  ``CLIENT_LIMIT`` per ``CLIENT_WINDOW``. Past it, that address is refused and *nothing else is
  counted*: a refused try never counts against a code (counting it let one blocked address keep
  any member it knew the code of locked out for ever).
- ``pair``: failed tries from one address on one code, at most ``PAIR_LIMIT`` in the code's
  current window. Past it only that address is refused for that code.
- ``window``: failed tries on a code from every address in a window of ``CODE_WINDOW`` that starts
  with its first failure. Pair counters end with the window they were counted in, so one address
  alone brings a window to ``PAIR_LIMIT`` at most and can never lock a code.
- ``lock``: when a window passes ``PAIR_LIMIT`` (failures from two addresses or more), the code is
  locked for ``CODE_DELAYS[level]`` and its level goes up: 5, 10, 20, 40, then 60 minutes at most
  each time. The level is forgotten ``LOCK_MEMORY`` after the last lock.

So whatever the number of addresses, a code gets at most ``PAIR_LIMIT + 1`` PIN checks per
window or lock, that is at most 4 an hour once the delay has grown to its cap, and a lock lasts
at most an hour at a time. The member can always be served at the desk, which has no such limit
(staff sign in), and a coordinator can reset the PIN there.

Every try is counted before its PIN is checked, in one transaction that locks the rows it reads
in a fixed order (client, lock, window, pair); a right PIN then takes the try back. Counting first
is what makes the limits hold under concurrent requests. On PostgreSQL the row locks order
concurrent tries; on SQLite the IMMEDIATE transaction mode serialises them.

Digests of addresses are keyed with a key derived from ``SECRET_KEY`` and the current UTC day, so
a digest is not comparable across days, and the rows holding them are deleted as soon as their
window ends: the database holds digests of the addresses that failed in the last hour at most.
Someone who seizes both the database and ``SECRET_KEY`` can still test every IPv4 address against
the digests of that hour; nothing older is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from compassionclub.security.client_ip import client_ip_address
from distributions.status_page.models import AttemptCounter

CLIENT_LIMIT: int = getattr(settings, "STATUS_PAGE_CLIENT_LIMIT", 20)
CLIENT_WINDOW = dt.timedelta(seconds=getattr(settings, "STATUS_PAGE_CLIENT_WINDOW_SECONDS", 15 * 60))
PAIR_LIMIT: int = getattr(settings, "STATUS_PAGE_PAIR_LIMIT", 3)
CODE_WINDOW = dt.timedelta(seconds=getattr(settings, "STATUS_PAGE_CODE_WINDOW_SECONDS", 60 * 60))
CODE_DELAYS: tuple[dt.timedelta, ...] = tuple(
    dt.timedelta(minutes=m) for m in getattr(settings, "STATUS_PAGE_CODE_DELAY_MINUTES", (5, 10, 20, 40, 60))
)
# How long a code's lock level is remembered after its last lock: the retention period of the
# status page's counters (settings.RETENTION).
LOCK_MEMORY: dt.timedelta = settings.RETENTION["status_page_counters"]


@dataclass(frozen=True)
class Keys:
    client: str
    window: str
    lock: str
    address: str  # the counted address, in memory only: stored rows hold digests of it
    code_digest: str

    def pair(self, window: AttemptCounter) -> str:
        """The key of this address on this code in ``window``: a new key for each window (and
        keyed with the day the window started), so an address counts at most ``PAIR_LIMIT``
        failures into any one window, midnight or not."""
        started = (window.expires_at - CODE_WINDOW).date()
        return f"pair:{_mac(_address_key(started), f'{self.address}|{self.code_digest}|{window.expires_at.isoformat()}')}"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: dt.timedelta = dt.timedelta(0)

    @property
    def minutes(self) -> int:
        return max(1, -(-int(self.retry_after.total_seconds()) // 60))


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:40]


def _address_key(today: dt.date) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"status-page:address:{today.isoformat()}".encode(),
                    hashlib.sha256).digest()


def client_id(address: str | None) -> str:
    """The address counted: IPv6 by its /64, which one subscriber usually holds whole."""
    if not address:
        return "unknown"
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def keys_for(request: HttpRequest, code: str) -> Keys:
    """The keys of a try on ``code`` from the client the trusted proxies report, by the same rule
    as the staff sign-in lockout."""
    return keys_for_address(client_ip_address(request), code)


def keys_for_address(ip: str | None, code: str, *, today: dt.date | None = None) -> Keys:
    today = today or timezone.now().date()
    address = client_id(ip)
    code_digest = _mac(settings.SECRET_KEY.encode(), f"status-page:code:{code}")
    return Keys(client=f"client:{_mac(_address_key(today), address)}", window=f"code:{code_digest}",
                lock=f"lock:{code_digest}", address=address, code_digest=code_digest)


def count(key: str) -> int:
    """Tries counted against ``key`` in its current window (for a lock key: the level)."""
    row = AttemptCounter.objects.filter(key=key, expires_at__gt=timezone.now()).values_list("count", flat=True)
    return row.first() or 0


def _locked_row(key: str, now: dt.datetime, expires_at: dt.datetime) -> AttemptCounter:
    """The row of ``key``, locked until commit; a fresh one (count 0 until ``expires_at``) if
    there is none or it has expired. Call inside a transaction."""
    for _ in range(3):
        row = AttemptCounter.objects.select_for_update().filter(key=key).first()
        if row is not None:
            if row.expires_at <= now:
                AttemptCounter.objects.filter(key=key).update(count=0, expires_at=expires_at, locked_until=None)
                row.count, row.expires_at, row.locked_until = 0, expires_at, None
            return row
        try:
            with transaction.atomic():
                return AttemptCounter.objects.create(key=key, count=0, expires_at=expires_at)
        except IntegrityError:
            continue  # another request's first try made the row meanwhile: lock it and use it
    raise RuntimeError("The attempt counter could not be written.")


def _count_one(row: AttemptCounter) -> int:
    AttemptCounter.objects.filter(key=row.key).update(count=F("count") + 1)
    return row.count + 1  # the row is locked: nobody counted on it in between


def forget_expired(now: dt.datetime | None = None) -> int:
    """Delete every counter whose window (or lock memory) has ended; returns how many."""
    return AttemptCounter.objects.filter(expires_at__lte=now or timezone.now()).delete()[0]


def attempt(keys: Keys, *, now: dt.datetime | None = None) -> Verdict:
    """Count one try; refused (with how long to wait) without counting it against the code when
    the client, the client on this code, or the code is past its limit."""
    now = now or timezone.now()
    forget_expired(now)
    with transaction.atomic():
        # Always in this order, so two requests never wait on each other's second lock; the
        # code's window row is what serialises tries on one code.
        client = _locked_row(keys.client, now, now + CLIENT_WINDOW)
        if client.count >= CLIENT_LIMIT:
            return Verdict(False, client.expires_at - now)
        window = _locked_row(keys.window, now, now + CODE_WINDOW)
        lock = AttemptCounter.objects.filter(key=keys.lock, expires_at__gt=now).first()
        if lock and lock.locked_until and lock.locked_until > now:
            return Verdict(False, lock.locked_until - now)
        pair = _locked_row(keys.pair(window), now, window.expires_at)
        if pair.count >= PAIR_LIMIT:
            return Verdict(False, pair.expires_at - now)
        _count_one(client)
        _count_one(pair)
        if _count_one(window) > PAIR_LIMIT:
            # Failures from two addresses or more in one window: lock the code, for longer each
            # time, and start a new window when the lock ends.
            lock = _locked_row(keys.lock, now, now)
            delay = CODE_DELAYS[min(lock.count, len(CODE_DELAYS) - 1)]
            AttemptCounter.objects.filter(key=keys.lock).update(
                count=F("count") + 1, locked_until=now + delay, expires_at=now + delay + LOCK_MEMORY)
            AttemptCounter.objects.filter(key=keys.window).update(count=0, expires_at=now + delay + CODE_WINDOW)
    return Verdict(True)


def succeeded(keys: Keys, *, now: dt.datetime | None = None) -> None:
    """A right code and PIN: the code's window starts afresh and the try is not held against the
    client. The lock level stays: a member getting in does not shorten the next lock."""
    with transaction.atomic():
        AttemptCounter.objects.filter(key=keys.client, count__gt=0).update(count=F("count") - 1)
        window = AttemptCounter.objects.filter(key=keys.window, expires_at__gt=now or timezone.now()).first()
        if window is not None:
            AttemptCounter.objects.filter(Q(key=keys.window) | Q(key=keys.pair(window))).delete()
