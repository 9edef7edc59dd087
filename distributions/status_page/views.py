"""The public member status page (no login).

A member types the code on their card and their PIN into a POST form. Whatever is wrong (an
unknown code, a code with a typo, a wrong PIN, an empty field) the answer is the same page with
the same words, and a password hash is always checked (against a dummy hash when there is no
such member) so the time taken does not tell either. Failures are counted per code and per
client in the database (see ``ratelimit``), before the PIN is checked; past the limit the page says to try again later
without checking the PIN at all. Nothing is put in the URL, the session or the logs; responses
are never cached (``never_cache`` sets ``Cache-Control: no-store``).
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from distributions.eligibility import check_eligibility
from distributions.recalls.services import status_alert_seen_record
from distributions.status_page import ratelimit
from distributions.status_page.forms import StatusLookupForm
from distributions.status_page.selectors import batches_received
from members.codes import is_valid_code, normalise_code
from members.models import Member

TEMPLATE = "status/status.html"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made with the default hasher, like real PINs, so checking it costs the same.
    return make_password(secrets.token_hex(16))


def _find_member(code: str) -> Member | None:
    if not is_valid_code(code):
        return None
    return Member.objects.select_related("group").filter(code=normalise_code(code)).first()


def _form_page(request: HttpRequest, *, failed: bool = False, locked: bool = False) -> HttpResponse:
    context = {"form": StatusLookupForm(), "failed": failed, "locked": locked,
               "lockout_minutes": ratelimit.LOCKOUT_SECONDS // 60, "max_tries": ratelimit.MAX_FAILURES_PER_CODE}
    return render(request, TEMPLATE, context, status=429 if locked else 200)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def status_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form_page(request)

    code = normalise_code(request.POST.get("code", ""))[:40]
    pin = request.POST.get("pin", "")[:40]
    client_key, code_key = ratelimit.keys_for(request, code)
    if not ratelimit.attempt(client_key, code_key):
        return _form_page(request, locked=True)

    member = _find_member(code) if code and pin else None
    if member is None:
        check_password(pin, _dummy_hash())
        verified = False
    else:
        verified = member.check_pin(pin)
    if not verified:
        return _form_page(request, failed=True)

    ratelimit.succeeded(client_key, code_key)
    eligibility = check_eligibility(member)
    alerts, recent = batches_received(member)
    if alerts:
        # Counts the member as told about these batches: the member and the time, nothing more.
        status_alert_seen_record(member=member)
    context = {
        "eligibility": eligibility,
        "allowances": sorted(eligibility.allowances.values(), key=lambda a: a.substance_name),
        "alerts": alerts,
        "batches": recent,
        "member_code": member.display_code,
    }
    return render(request, "status/result.html", context)
