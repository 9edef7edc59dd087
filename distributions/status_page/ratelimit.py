"""Failed-attempt counters for the status page, in the shared cache.

The cache is the database by default and Redis when ``REDIS_URL`` is set, so the limits hold
across every server process. Keys never hold a member code or an IP address in clear: both are
replaced by an HMAC keyed with ``SECRET_KEY``, and the counters expire after the lockout period,
so nothing that identifies a client outlives a few minutes and nothing reaches the database
tables of the application or the logs.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# Failures allowed before a lockout, and how long a lockout lasts. A 6-digit PIN with 5 tries
# per code per 15 minutes would take years to guess on average.
MAX_FAILURES_PER_CODE = getattr(settings, "STATUS_PAGE_MAX_FAILURES_PER_CODE", 5)
MAX_FAILURES_PER_CLIENT = getattr(settings, "STATUS_PAGE_MAX_FAILURES_PER_CLIENT", 20)
LOCKOUT_SECONDS = getattr(settings, "STATUS_PAGE_LOCKOUT_SECONDS", 15 * 60)


def _digest(kind: str, value: str) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"status-page:{kind}:{value}".encode(), hashlib.sha256)
    return f"status:{kind}:{mac.hexdigest()[:40]}"


def client_address(request: HttpRequest) -> str:
    """The client's address as the deployment's proxies report it (same rule as axes)."""
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-proxies] if len(hops) >= proxies else hops[0]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def keys_for(request: HttpRequest, code: str) -> tuple[str, str]:
    return _digest("client", client_address(request)), _digest("code", code)


def is_locked(client_key: str, code_key: str) -> bool:
    counts = cache.get_many([client_key, code_key])
    return counts.get(client_key, 0) >= MAX_FAILURES_PER_CLIENT or counts.get(code_key, 0) >= MAX_FAILURES_PER_CODE


def record_failure(*keys: str) -> None:
    for key in keys:
        # add() starts the window; incr() keeps its expiry (fixed window from the first failure).
        if not cache.add(key, 1, LOCKOUT_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, LOCKOUT_SECONDS)


def clear(key: str) -> None:
    cache.delete(key)
