"""The public member status page (no login).

A member types the code on their card and their PIN into a POST form. Whatever is wrong (an
unknown code, a code with a typo, a wrong PIN, an empty field) the answer is the same page with
the same words, and a password hash is always checked (against a dummy hash when there is no
such member) so the time taken does not tell either. Failures are counted per client, per client
and code, and per code in the database (see ``ratelimit``), before the PIN is checked; past a
limit the page says how long to wait, without checking the PIN at all. Nothing is put in the URL, the session or the logs; responses
are never cached (``never_cache`` sets ``Cache-Control: no-store``).
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
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
from testing_results.models import Substance

TEMPLATE = "status/status.html"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Made with the default hasher, like real PINs, so checking it costs the same.
    return make_password(secrets.token_hex(16))


def _find_member(code: str) -> Member | None:
    if not is_valid_code(code):
        return None
    return Member.objects.select_related("group").filter(code=normalise_code(code)).first()


def _form_page(request: HttpRequest, *, failed: bool = False, typo: bool = False, code: str = "",
               refused: ratelimit.Verdict | None = None) -> HttpResponse:
    # After a wrong PIN (or a typo) the code stays in its field, as typed, so only the
    # mistake needs typing again; it is the member's own input sent back, nothing looked up.
    form = StatusLookupForm(initial={"code": code[:20]} if code else None)
    context = {"form": form, "failed": failed, "typo": typo, "locked": refused is not None,
               "lockout_minutes": refused.minutes if refused else ratelimit.CODE_WINDOW.seconds // 60,
               "max_tries": ratelimit.PAIR_LIMIT}
    response = render(request, TEMPLATE, context, status=429 if refused else 200)
    if refused:
        response["Retry-After"] = str(int(refused.retry_after.total_seconds()) + 1)
    return response


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def status_page(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form_page(request)

    typed = request.POST.get("code", "").strip()[:40]
    code = normalise_code(typed)[:40]
    pin = request.POST.get("pin", "")[:40]
    if code and not is_valid_code(code):
        # The check character alone says the code was mistyped: no code is looked up, so this
        # tells nothing about which codes exist, and it costs the member none of their tries.
        return _form_page(request, typo=True, code=typed)
    keys = ratelimit.keys_for(request, code)
    verdict = ratelimit.attempt(keys)
    if not verdict.allowed:
        return _form_page(request, refused=verdict)

    member = _find_member(code) if code and pin else None
    if member is None:
        check_password(pin, _dummy_hash())
        verified = False
    else:
        verified = member.check_pin(pin)
    if not verified:
        return _form_page(request, failed=True, code=typed)

    ratelimit.succeeded(keys)
    eligibility = check_eligibility(member)
    alerts, recent = batches_received(member)
    if alerts:
        # Counts the member as told about these batches: the member and the time, nothing more.
        status_alert_seen_record(member=member)
    # Substance names are data: their French name on the French page, the English one otherwise.
    names = {}
    if get_language().startswith("fr"):
        names = dict(Substance.objects.exclude(name_fr="").values_list("name", "name_fr"))
    context = {
        "eligibility": eligibility,
        "substance_names": names,
        "allowances": sorted(eligibility.allowances.values(), key=lambda a: names.get(a.substance_name, a.substance_name)),
        "alerts": alerts,
        "batches": recent,
        "member_code": member.display_code,
    }
    return render(request, "status/result.html", context)
