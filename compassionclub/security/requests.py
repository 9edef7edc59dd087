"""Requests refused before they cost anything: bodies too large, NUL in parameters, and admin
list lookups that the database cannot run.

- **Body limits, before the body is read.** A POST to the status page, the sign-in pages or from
  anyone not signed in may carry at most ``BODY_LIMIT_SMALL`` bytes; a signed-in staff user's at
  most ``BODY_LIMIT_UPLOAD`` (the lab-report limit plus the form around it). A declared
  ``Content-Length`` above the limit is answered 413 at once; a body without one (chunked) is
  read through a counter that stops at the limit. Without this, Django's CSRF check parsed a
  300 MB anonymous multipart POST to a temporary file before refusing it.
- **NUL in a query parameter**: 400. PostgreSQL refuses NUL in a string, so ``?kind=%00`` on a
  changelist was a 500; no parameter of this application ever needs one.
- **An admin list lookup the database cannot run** (a year past 9999 in the date hierarchy, an
  integer too large for the column): the list answers 400 instead of a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import Resolver404, resolve

logger = logging.getLogger("django.security.request_limits")

SMALL_BODY_URL_NAMES = frozenset({"status_page", "set_language", "admin:login", "admin:logout", "admin:two_factor"})


def body_limit(request: HttpRequest) -> int:
    try:
        name = resolve(request.path_info).view_name
    except Resolver404:
        name = ""
    if name in SMALL_BODY_URL_NAMES or not request.user.is_authenticated:
        return settings.BODY_LIMIT_SMALL
    return settings.BODY_LIMIT_UPLOAD


class CappedStream:
    """A request body stream that refuses to give more than ``limit`` bytes."""

    def __init__(self, stream, limit: int) -> None:
        self.stream, self.limit, self.read_so_far = stream, limit, 0

    def _count(self, data: bytes) -> bytes:
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise RequestDataTooBig(f"The request body is larger than {self.limit} bytes.")
        return data

    def read(self, size: int = -1) -> bytes:
        allowed = self.limit - self.read_so_far + 1
        return self._count(self.stream.read(allowed if size is None or size < 0 else min(size, allowed)))

    def readline(self, size: int = -1) -> bytes:
        allowed = self.limit - self.read_so_far + 1
        return self._count(self.stream.readline(allowed if size is None or size < 0 else min(size, allowed)))

    def close(self) -> None:
        self.stream.close()

    def __getattr__(self, name: str):
        # Anything else a server or Django asks of a body stream is the wrapped stream's.
        return getattr(self.stream, name)


def _refuse(request: HttpRequest, status: int, template: str) -> HttpResponse:
    response = TemplateResponse(request, template, status=status)
    response.render()
    return response


class RequestGuardMiddleware:
    """Last in ``MIDDLEWARE``: its checks still run before any view or ``process_view`` (the CSRF
    check) reads the body, and every middleware above adds its headers to its answers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", "")):
            return _refuse(request, 400, "400.html")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            limit = body_limit(request)
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _refuse(request, 400, "400.html")
            if declared > limit:
                logger.warning("Refused a %s-byte body (limit %s) on %s", declared, limit, request.path_info)
                # No "Connection: close": WSGI forbids hop-by-hop headers from the application;
                # the server closes a connection whose body it did not read.
                return _refuse(request, 413, "413.html")
            request._stream = CappedStream(request._stream, limit)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if (
            request.method == "GET"
            and request.META.get("QUERY_STRING")
            and isinstance(exception, (OverflowError, ValueError, DataError))
            and getattr(request.resolver_match, "url_name", "").endswith("_changelist")
        ):
            logger.warning("A list lookup the database could not run: %r on %s", exception, request.get_full_path())
            return _refuse(request, 400, "400.html")
        return None
