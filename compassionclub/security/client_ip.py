"""The client address of a request, one rule for django-axes and the audit trail.

Behind ``PROXY_COUNT`` trusted proxies, each appends the address it received the request from
to ``X-Forwarded-For``; the entry the outermost trusted proxy appended is the client's, that is
the ``PROXY_COUNT``-th from the right. Everything to its left was written by the client and is
ignored, so nobody can spoof an address or get someone else locked out. With no proxy
(``PROXY_COUNT=0``) the header is ignored entirely and ``REMOTE_ADDR`` is the address.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str | None) -> str | None:
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    meta = getattr(request, "META", {})
    remote = _valid(meta.get("REMOTE_ADDR"))
    proxies = int(getattr(settings, "PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        # The request did not come through every trusted proxy: only the socket is known.
        return remote
    return _valid(forwarded[-proxies]) or remote
