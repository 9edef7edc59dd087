"""Desk views: look up a member, record a visit (several substances at once), undo a line.

Member codes travel only in POST bodies, never in URLs, so they stay out of access logs and
browser history. Every page is ``never_cache``: a shared tablet's back button must not show the
previous member's allowance. After a recorded visit or an undo the browser is redirected
(post/redirect/get) to the desk, which shows the same member again (their id is kept in the
session until the next lookup or "Clear"), with the visit's lines and a fresh form.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from compassionclub.errors import ServiceError
from distributions import services
from distributions.desk.forms import (
    NOT_FOUND_MESSAGE,
    LookupForm,
    MemberToldForm,
    ReplacementForm,
    UndoForm,
    VisitForm,
)
from distributions.eligibility import Eligibility, SubstanceAllowance, check_eligibility
from distributions.models import LedgerEntry
from distributions.recalls import services as recall_services
from distributions.recalls.replacements import replacement_record
from distributions.recalls.selectors import member_alerts, replaceable_distributions, unacknowledged_notices_for
from distributions.selectors import group_stock
from distributions.services import VisitLine
from distributions.visibility import entries_visible_to, members_visible_to
from members.models import Member, RetiredCode

PERMISSION = "distributions.record_distribution"
SESSION_LAST_VISIT = "desk_last_visit_entry_ids"
SESSION_MEMBER = "desk_member_id"
# Set by a lookup, read once by the page it redirects to: the cursor goes to the visit's first
# grams box (after a recorded visit, or on a reload, it waits in the code box instead).
SESSION_SERVE = "desk_serve_now"

DeskView = Callable[[HttpRequest, object], HttpResponse]


@dataclass(frozen=True)
class SubstanceRow:
    """One substance on the member panel: the allowance and the batches on offer."""

    allowance: SubstanceAllowance
    batches: list


def _require_desk_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("The distribution desk is for coordinators.")


def desk_view(*methods: str) -> Callable[[DeskView], DeskView]:
    """A desk page: never cached (a shared tablet's Back must not show the previous member's
    allowance), answering only ``methods``, and only to those who record distributions."""

    def decorate(view: DeskView) -> DeskView:
        @never_cache
        @require_http_methods(list(methods))
        @wraps(view)
        def guarded(request: HttpRequest, site) -> HttpResponse:
            _require_desk_permission(request)
            return view(request, site)

        return guarded

    return decorate


def _to_desk() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:distributions_desk"))


def replaced_card_message(user, code: str) -> str | None:
    """For the member's own coordinators only: that ``code`` is a replaced card's, and when it
    was replaced. Anyone else is told the code is not found, as for any unknown code."""
    retired = (
        RetiredCode.objects.filter(code=code, member__in=members_visible_to(user, Member.objects.all()))
        .values_list("retired_at", flat=True).first()
    )
    if retired is None:
        return None
    return (f"This card was replaced by a new one on {timezone.localtime(retired):%-d %b %Y}; its code no longer "
            "works. Ask the member for the new card (the member page has its code).")


def find_member(user, code: str) -> Member | None:
    """The member with ``code`` if ``user`` may see them; a member of another group is not
    found, exactly like an unknown code, so the desk never reveals that a code exists."""
    members = members_visible_to(user, Member.objects.select_related("group"))
    return members.filter(code=code).first()


def _member_panel(member: Member) -> tuple[Eligibility, list[SubstanceRow]]:
    eligibility = check_eligibility(member)
    by_substance: dict[int, list] = {}
    for batch in group_stock(member.group):
        by_substance.setdefault(batch.substance_id, []).append(batch)
    rows = [
        SubstanceRow(allowance=allowance, batches=by_substance.get(substance_id, []))
        for substance_id, allowance in sorted(
            eligibility.allowances.items(), key=lambda item: item[1].substance_name
        )
    ]
    return eligibility, rows


@dataclass(frozen=True)
class DeskReason:
    """Why the member cannot be served, worded for the coordinator, with where to fix it."""

    code: str
    message: str
    fix_url: str = ""
    fix_label: str = ""


def desk_reasons(member: Member, eligibility: Eligibility) -> list[DeskReason]:
    """The eligibility reasons as the coordinator needs them: the member's status page tells
    the member to talk to a coordinator; the desk tells the coordinator what to do."""
    reasons = []
    # Each fix comes back to the desk when done, where the member is still on screen.
    back = f"?next={reverse('admin:distributions_desk')}"
    for reason in eligibility.reasons:
        if reason.code == "member_not_active" and member.status == Member.Status.SUSPENDED:
            reasons.append(DeskReason(
                reason.code, "The membership is suspended. Reinstate it first if the suspension is over.",
                reverse("admin:members_member_status", args=[member.pk]) + back, "Change status",
            ))
        elif reason.code == "member_not_active":
            reasons.append(DeskReason(reason.code, "The membership has been withdrawn; it cannot be served.",
                                      reverse("admin:members_member_status", args=[member.pk]) + back, "Change status"))
        elif reason.code == "renewal_overdue":
            reasons.append(DeskReason(
                reason.code, f"The renewal was due on {member.renewal_due:%-d %b %Y}. Renew the membership first.",
                reverse("admin:members_member_renew", args=[member.pk]) + back, "Renew",
            ))
        else:
            reasons.append(DeskReason(reason.code, str(reason.message)))
    return reasons


# What the desk lists under "Last visit" and may undo: the visit's lines and a replacement
# handed out in it.
DESK_UNDOABLE = (LedgerEntry.Kind.DISTRIBUTION, LedgerEntry.Kind.REPLACEMENT)


def _last_visit(request: HttpRequest) -> list[LedgerEntry]:
    entry_ids = request.session.get(SESSION_LAST_VISIT) or []
    if not entry_ids:
        return []
    entries = entries_visible_to(
        request.user,
        LedgerEntry.objects.filter(kind__in=DESK_UNDOABLE).select_related(
            "batch__substance", "member", "recorded_by", "reversed_by"
        ),
    )
    return list(entries.filter(pk__in=entry_ids).order_by("batch__substance__name", "pk"))


def _undone_because(entry: LedgerEntry) -> str:
    reversal = getattr(entry, "reversed_by", None)
    if reversal is None:
        return ""
    try:
        return str(LedgerEntry.ReversalReason(reversal.reason).label)
    except ValueError:
        return reversal.reason


@dataclass(frozen=True)
class VisitRow:
    """One substance on the member panel: the allowance, the batches on offer and the form's
    fields for it (the batch chosen and the grams typed, with their errors)."""

    allowance: SubstanceAllowance
    batches: list
    chosen_batch_id: str
    grams: str
    batch_errors: list
    grams_errors: list

    @property
    def batch_dom_id(self) -> str:
        return f"desk-batch-{self.allowance.substance_id}"

    @property
    def grams_dom_id(self) -> str:
        return f"desk-grams-{self.allowance.substance_id}"


def _visit_rows(rows: list[SubstanceRow], form: VisitForm | None) -> list[VisitRow]:
    result = []
    for row in rows:
        sid = row.allowance.substance_id
        bound = form is not None and form.is_bound
        offered = [str(batch.pk) for batch in row.batches]
        chosen = str(form.data.get(f"batch_{sid}", "")) if bound else (offered[0] if offered else "")
        result.append(VisitRow(
            allowance=row.allowance, batches=row.batches, chosen_batch_id=chosen,
            grams=str(form.data.get(f"grams_{sid}", "")) if bound else "",
            batch_errors=list(form.errors.get(f"batch_{sid}", [])) if bound else [],
            grams_errors=list(form.errors.get(f"grams_{sid}", [])) if bound else [],
        ))
    return result


def _focus(rows: list[VisitRow], *, next_member: bool) -> str:
    """Where the cursor goes, so the next keystroke is the useful one: the first line with an
    error, else the first substance in stock's grams, else (after a visit) the next code."""
    for row in rows:
        if row.batch_errors:
            return row.batch_dom_id
        if row.grams_errors:
            return row.grams_dom_id
    if next_member:
        return "id_code"
    for row in rows:
        if row.batches:
            return row.grams_dom_id
    return "id_code"


def _render(
    request: HttpRequest,
    site,
    *,
    lookup_form: LookupForm,
    member: Member | None = None,
    visit_form: VisitForm | None = None,
    next_member: bool = False,
) -> HttpResponse:
    last_visit = _last_visit(request)
    context = {
        **site.each_context(request),
        # The desk takes the whole width: beside the admin's menu, a tablet's 768 px left the
        # visit table too narrow to read a batch. Home and the breadcrumbs stay one tap away.
        "is_nav_sidebar_enabled": False,
        "title": "Distribution desk",
        "lookup_form": lookup_form,
        "member": member,
        "visit_form": visit_form,
        "last_visit": [(entry, _undone_because(entry)) for entry in last_visit],
        "undo_reasons": UndoForm.REASONS,
        "focus": "id_code",
        "recall_notices": unacknowledged_notices_for(request.user),
    }
    if member is not None:
        eligibility, rows = _member_panel(member)
        context["eligibility"] = eligibility
        context["desk_reasons"] = desk_reasons(member, eligibility)
        context["recall_alerts"] = member_alerts(member)
        context["replaceable"] = _replaceable(member, context["recall_alerts"], rows)
        if visit_form is None:
            visit_form = _fresh_visit_form(member, rows)
            context["visit_form"] = visit_form
        context["visit_rows"] = _visit_rows(rows, visit_form)
        context["focus"] = _focus(context["visit_rows"], next_member=next_member) if eligibility.eligible else "id_code"
    return render(request, "desk/desk.html", context)


@dataclass(frozen=True)
class ReplaceableRow:
    """A recalled distribution the desk offers to replace, with the batches it may come from."""

    entry_id: int
    batch_code: str
    grams: object
    occurred_at: object
    batches: list
    idempotency_key: str


def _replaceable(member: Member, alerts, substance_rows: list[SubstanceRow]) -> list[ReplaceableRow]:
    by_substance = {row.allowance.substance_id: row.batches for row in substance_rows}
    return [
        ReplaceableRow(r.entry_id, r.batch_code, r.grams, r.occurred_at, by_substance.get(r.substance_id, []), uuid.uuid4().hex)
        for r in replaceable_distributions(member, alerts)
    ]


def _fresh_visit_form(member: Member, rows: list[SubstanceRow]) -> VisitForm:
    # The key is made when the form is rendered, so every resubmission of this one form
    # (a double click, a retry after a dropped connection) carries the same key and records once.
    return VisitForm(
        initial={"code": member.code, "idempotency_key": uuid.uuid4()},
        substance_ids=[row.allowance.substance_id for row in rows],
    )


def _session_member(request: HttpRequest) -> Member | None:
    member_id = request.session.get(SESSION_MEMBER)
    if not member_id:
        return None
    return members_visible_to(request.user, Member.objects.select_related("group")).filter(pk=member_id).first()


@desk_view("GET", "POST")
def desk(request: HttpRequest, site) -> HttpResponse:
    """GET: the lookup form, and the member being served if there is one. POST: look the
    member up, then redirect to the GET (a reload or Back never posts the code again); a code
    that is mistyped or not found is answered on the spot, kept in its box."""
    if request.method == "GET":
        member = _session_member(request)
        serve_now = request.session.pop(SESSION_SERVE, False)
        return _render(request, site, lookup_form=LookupForm(), member=member,
                       next_member=member is not None and not serve_now)
    lookup_form = LookupForm(request.POST)
    if not lookup_form.is_valid():
        return _render(request, site, lookup_form=lookup_form)
    member = find_member(request.user, lookup_form.cleaned_data["code"])
    if member is None:
        lookup_form.add_error(
            "code", replaced_card_message(request.user, lookup_form.cleaned_data["code"]) or NOT_FOUND_MESSAGE
        )
        return _render(request, site, lookup_form=lookup_form)
    if request.session.get(SESSION_MEMBER) != member.pk:
        request.session[SESSION_MEMBER] = member.pk
        request.session.pop(SESSION_LAST_VISIT, None)
    request.session[SESSION_SERVE] = True
    return _to_desk()


def _visit_message(entries: list[LedgerEntry]) -> str:
    # In the order of the page's rows.
    return ", ".join(f"{e.grams} g of {e.batch.substance}" for e in sorted(entries, key=lambda e: e.batch.substance.name))


@desk_view("POST")
def record(request: HttpRequest, site) -> HttpResponse:
    lookup_form = LookupForm({"code": request.POST.get("code", "")})
    if not lookup_form.is_valid():
        return _render(request, site, lookup_form=lookup_form)
    member = find_member(request.user, lookup_form.cleaned_data["code"])
    if member is None:
        lookup_form.add_error("code", NOT_FOUND_MESSAGE)
        return _render(request, site, lookup_form=lookup_form)
    form = VisitForm(request.POST, substance_ids=VisitForm.substance_ids_in(request.POST))
    if not form.is_valid():
        return _render(request, site, lookup_form=LookupForm(), member=member, visit_form=form)
    key = form.cleaned_data["idempotency_key"].hex
    already = LedgerEntry.objects.filter(idempotency_key__startswith=f"{key}.").exists()
    try:
        entries = services.visit_record(
            member=member,
            lines=[VisitLine(batch=batch, grams=grams) for _sid, batch, grams in form.lines],
            by=request.user,
            idempotency_key=key,
        )
    except ServiceError as error:
        form.add_service_error(error)
        return _render(request, site, lookup_form=LookupForm(), member=member, visit_form=form)
    request.session[SESSION_MEMBER] = member.pk
    request.session[SESSION_LAST_VISIT] = [entry.pk for entry in entries]
    if already:
        messages.info(request, "This visit was already recorded; it was not recorded twice.")
    else:
        messages.success(request, f"Recorded {_visit_message(entries)} for {member.display_code}.")
    return _to_desk()


@desk_view("POST")
def clear(request: HttpRequest, site) -> HttpResponse:
    """Done with this member: the desk shows nobody until the next lookup."""
    request.session.pop(SESSION_MEMBER, None)
    request.session.pop(SESSION_LAST_VISIT, None)
    return _to_desk()


@desk_view("POST")
def undo(request: HttpRequest, site) -> HttpResponse:
    """Undo one line of the visit; the answer, done or refused, is a message on the desk."""
    form = UndoForm(request.POST)
    entry = None
    if form.is_valid():
        entry = entries_visible_to(
            request.user,
            LedgerEntry.objects.filter(kind__in=DESK_UNDOABLE).select_related("batch__substance", "member"),
        ).filter(pk=form.cleaned_data["entry"]).first()
        if entry is None:
            form.add_error(None, "That line was not found.")
    if entry is not None:
        try:
            services.entry_reverse(entry=entry, reason=form.cleaned_data["reason"], by=request.user)
        except ServiceError as error:
            form.add_error(None, error)
        else:
            reason = LedgerEntry.ReversalReason(form.cleaned_data["reason"]).label
            what = "replacement of " if entry.kind == LedgerEntry.Kind.REPLACEMENT else ""
            messages.success(request, f"Undone: {what}{entry.grams} g of {entry.batch.substance} reversed ({reason.lower()}).")
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"Not undone: {error}")
    return _to_desk()


def _not_found(request: HttpRequest, site) -> HttpResponse:
    """The desk with the posted member code back in its box, refused as the lookup refuses it:
    mistyped, or no member of the user's groups."""
    lookup_form = LookupForm({"code": request.POST.get("code", "")})
    if lookup_form.is_valid():
        lookup_form.add_error("code", NOT_FOUND_MESSAGE)
    return _render(request, site, lookup_form=lookup_form)


@desk_view("POST")
def told(request: HttpRequest, site) -> HttpResponse:
    """The coordinator told the member about a held or recalled batch they received."""
    form = MemberToldForm(request.POST)
    member = find_member(request.user, form.cleaned_data["code"]) if form.is_valid() else None
    if member is None:
        return _not_found(request, site)
    batch = form.cleaned_data["batch"]
    try:
        recall_services.member_told_record(member=member, batch=batch, by=request.user)
    except ServiceError as error:
        if error.code != "already_told":
            messages.error(request, str(error))
            return _to_desk()
    request.session[SESSION_MEMBER] = member.pk
    messages.success(request, f"Recorded: {member.display_code} was told about batch {batch.code}.")
    return _to_desk()


@desk_view("POST")
def replace(request: HttpRequest, site) -> HttpResponse:
    """Hand out a replacement for a distribution from a recalled batch."""
    form = ReplacementForm(request.POST)
    member = find_member(request.user, form.cleaned_data["code"]) if form.is_valid() else None
    if member is None:
        if form.is_valid() or "code" not in form.errors:
            return _not_found(request, site)
        messages.error(request, "The replacement was not recorded: " + "; ".join(e for errs in form.errors.values() for e in errs))
        return _to_desk()
    entries = entries_visible_to(request.user, LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member=member))
    distribution = entries.filter(pk=form.cleaned_data["distribution"]).first()
    if distribution is None:
        messages.error(request, "That distribution was not found.")
        return _to_desk()
    try:
        entry = replacement_record(
            distribution=distribution, batch=form.cleaned_data["batch"], grams=form.cleaned_data["grams"],
            by=request.user, idempotency_key=str(form.cleaned_data["idempotency_key"]),
        )
    except ServiceError as error:
        messages.error(request, f"The replacement was not recorded: {error}")
        request.session[SESSION_MEMBER] = member.pk
        return _to_desk()
    # Listed under the visit's lines, with their undo (a wrong batch or grams can be put right).
    same_member = request.session.get(SESSION_MEMBER) == member.pk
    lines = [pk for pk in (request.session.get(SESSION_LAST_VISIT) or []) if same_member and pk != entry.pk]
    request.session[SESSION_LAST_VISIT] = [*lines, entry.pk]
    request.session[SESSION_MEMBER] = member.pk
    messages.success(
        request,
        f"Replacement recorded: {entry.grams} g of batch {entry.batch.code} to {member.display_code}, "
        "not counted against the allowance.",
    )
    return _to_desk()
