"""The app's security headers, for the responses Django's middleware never sees: whitenoise's
static files (it answers before the CSP and clickjacking middleware run) and gunicorn's own
error pages (a request it cannot parse, or an application that fails after the headers went).

Built from the same settings the middleware reads, so there is one policy.
"""

from __future__ import annotations

from django.conf import settings


def security_headers() -> list[tuple[str, str]]:
    from csp.utils import build_policy

    headers = [
        ("Content-Security-Policy", build_policy(config=settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", settings.X_FRAME_OPTIONS),
        ("Referrer-Policy", settings.SECURE_REFERRER_POLICY),
        ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY),
    ]
    if getattr(settings, "SECURE_HSTS_SECONDS", 0):
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if getattr(settings, "SECURE_HSTS_INCLUDE_SUBDOMAINS", False):
            hsts += "; includeSubDomains"
        if getattr(settings, "SECURE_HSTS_PRELOAD", False):
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    return headers


def add_static_headers(headers, path: str, url: str) -> None:
    """``WHITENOISE_ADD_HEADERS_FUNCTION``: static files keep their caching headers and get the
    security headers every other response has."""
    for name, value in security_headers():
        headers.setdefault(name, value)


def gunicorn_error_response(status_int: int, reason: str, mesg: str) -> bytes:
    """What gunicorn sends instead of its bare error page: the same words as the app's error
    pages (never the exception text), the security headers, nothing cached."""
    import html

    body = (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>'
        f"{html.escape(reason)}</title></head>\n<body>\n<h1>{html.escape(reason)}</h1>\n"
        "<p>The request could not be answered.</p>\n</body>\n</html>\n"
    ).encode()
    lines = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        *(f"{name}: {value}" for name, value in security_headers()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
