"""Project-level views."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 "ok" when the database answers, 503 otherwise; nothing else is revealed."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return HttpResponse("unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


@cache_control(max_age=7 * 24 * 3600, public=True)
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """No icon, said once a week: browsers ask for /favicon.ico on every page, and a 404 each
    time filled the log with "Not Found" lines."""
    return HttpResponse(status=204)
