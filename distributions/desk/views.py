"""Desk views: look up a member, record a distribution, undo the last one.

Member codes travel only in POST bodies, never in URLs, so they stay out of access logs and
browser history. Every page is ``never_cache``: a shared tablet's back button must not show the
previous member's allowance. After a recorded distribution or an undo the browser is redirected
(post/redirect/get) to a fresh form; the last distribution's id is kept in the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from compassionclub.errors import ServiceError
from distributions import services
from distributions.desk.forms import NOT_FOUND_MESSAGE, DistributionForm, LookupForm, MemberToldForm, UndoForm
from distributions.eligibility import Eligibility, SubstanceAllowance, check_eligibility
from distributions.models import LedgerEntry
from distributions.recalls import services as recall_services
from distributions.recalls.selectors import member_alerts, unacknowledged_notices_for
from distributions.selectors import group_stock
from distributions.visibility import entries_visible_to, members_visible_to
from members.models import Member

PERMISSION = "distributions.record_distribution"
SESSION_LAST_ENTRY = "desk_last_entry_id"


@dataclass(frozen=True)
class SubstanceRow:
    """One substance on the member panel: the allowance and the batches on offer."""

    allowance: SubstanceAllowance
    batches: list


def _require_desk_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("The distribution desk is for coordinators.")


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
    for reason in eligibility.reasons:
        if reason.code == "member_not_active" and member.status == Member.Status.SUSPENDED:
            reasons.append(DeskReason(
                reason.code, "The membership is suspended. Reinstate it first if the suspension is over.",
                reverse("admin:members_member_status", args=[member.pk]), "Change status",
            ))
        elif reason.code == "member_not_active":
            reasons.append(DeskReason(reason.code, "The membership has been withdrawn; it cannot be served.",
                                      reverse("admin:members_member_status", args=[member.pk]), "Change status"))
        elif reason.code == "renewal_overdue":
            reasons.append(DeskReason(
                reason.code, f"The renewal was due on {member.renewal_due:%-d %b %Y}. Renew the membership first.",
                reverse("admin:members_member_renew", args=[member.pk]), "Renew",
            ))
        else:
            reasons.append(DeskReason(reason.code, str(reason.message)))
    return reasons


def _last_entry(request: HttpRequest) -> LedgerEntry | None:
    entry_id = request.session.get(SESSION_LAST_ENTRY)
    if not entry_id:
        return None
    entries = entries_visible_to(
        request.user,
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION).select_related(
            "batch__substance", "member", "recorded_by", "reversed_by"
        ),
    )
    return entries.filter(pk=entry_id).first()


def _undone_because(entry: LedgerEntry | None) -> str:
    reversal = getattr(entry, "reversed_by", None) if entry is not None else None
    if reversal is None:
        return ""
    try:
        return str(LedgerEntry.ReversalReason(reversal.reason).label)
    except ValueError:
        return reversal.reason


def _render(
    request: HttpRequest,
    site,
    *,
    lookup_form: LookupForm,
    member: Member | None = None,
    distribution_form: DistributionForm | None = None,
    undo_form: UndoForm | None = None,
) -> HttpResponse:
    last_entry = _last_entry(request)
    context = {
        **site.each_context(request),
        "title": "Distribution desk",
        "lookup_form": lookup_form,
        "member": member,
        "distribution_form": distribution_form,
        "last_entry": last_entry,
        "last_entry_undone_because": _undone_because(last_entry),
        "undo_form": undo_form or UndoForm(),
        "recall_notices": unacknowledged_notices_for(request.user),
    }
    if member is not None:
        context["eligibility"], context["substance_rows"] = _member_panel(member)
        context["desk_reasons"] = desk_reasons(member, context["eligibility"])
        context["recall_alerts"] = member_alerts(member)
        offered = [str(batch.pk) for row in context["substance_rows"] for batch in row.batches]
        if distribution_form is not None and distribution_form.is_bound:
            chosen = str(distribution_form.data.get("batch", ""))
        else:
            chosen = offered[0] if len(offered) == 1 else ""
        context["chosen_batch_id"] = chosen
        context["focus"] = _focus(distribution_form, chosen if chosen in offered else "")
    return render(request, "desk/desk.html", context)


def _focus(form: DistributionForm | None, chosen_batch_id: str) -> str:
    """Where the cursor goes, so the next keystroke is the useful one."""
    if form is not None and form.is_bound and "batch" in form.errors:
        return "batch-chosen" if chosen_batch_id else "batch"
    return "grams" if chosen_batch_id else "batch"


def _fresh_distribution_form(member: Member) -> DistributionForm:
    # The key is made when the form is rendered, so every resubmission of this one form
    # (a double click, a retry after a dropped connection) carries the same key and records once.
    return DistributionForm(initial={"code": member.code, "idempotency_key": uuid.uuid4()})


@never_cache
@require_http_methods(["GET", "POST"])
def desk(request: HttpRequest, site) -> HttpResponse:
    """GET: an empty lookup form. POST: look the member up and show the panel."""
    _require_desk_permission(request)
    if request.method == "GET":
        return _render(request, site, lookup_form=LookupForm())
    lookup_form = LookupForm(request.POST)
    if not lookup_form.is_valid():
        return _render(request, site, lookup_form=lookup_form)
    member = find_member(request.user, lookup_form.cleaned_data["code"])
    if member is None:
        lookup_form.add_error("code", NOT_FOUND_MESSAGE)
        return _render(request, site, lookup_form=lookup_form)
    return _render(
        request,
        site,
        lookup_form=LookupForm(),
        member=member,
        distribution_form=_fresh_distribution_form(member),
    )


@never_cache
@require_POST
def record(request: HttpRequest, site) -> HttpResponse:
    _require_desk_permission(request)
    lookup_form = LookupForm({"code": request.POST.get("code", "")})
    if not lookup_form.is_valid():
        return _render(request, site, lookup_form=lookup_form)
    member = find_member(request.user, lookup_form.cleaned_data["code"])
    if member is None:
        lookup_form.add_error("code", NOT_FOUND_MESSAGE)
        return _render(request, site, lookup_form=lookup_form)
    form = DistributionForm(request.POST)
    if not form.is_valid():
        return _render(request, site, lookup_form=LookupForm(), member=member, distribution_form=form)
    key = str(form.cleaned_data["idempotency_key"])
    already = LedgerEntry.objects.filter(idempotency_key=key).exists()
    try:
        entry = services.distribution_record(
            member=member,
            batch=form.cleaned_data["batch"],
            grams=form.cleaned_data["grams"],
            by=request.user,
            idempotency_key=key,
        )
    except ServiceError as error:
        form.add_service_error(error)
        return _render(request, site, lookup_form=LookupForm(), member=member, distribution_form=form)
    request.session[SESSION_LAST_ENTRY] = entry.pk
    if already:
        messages.info(request, "This form was already recorded; it was not recorded twice.")
    else:
        messages.success(request, f"Recorded {entry.grams} g of {entry.batch.substance}. Next member, please.")
    return HttpResponseRedirect(reverse("admin:distributions_desk"))


@never_cache
@require_POST
def undo(request: HttpRequest, site) -> HttpResponse:
    _require_desk_permission(request)
    form = UndoForm(request.POST)
    entry = None
    if form.is_valid():
        entry = entries_visible_to(
            request.user,
            LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION).select_related("batch__substance", "member"),
        ).filter(pk=form.cleaned_data["entry"]).first()
        if entry is None:
            form.add_error(None, "That distribution was not found.")
    if entry is not None:
        try:
            services.entry_reverse(entry=entry, reason=form.cleaned_data["reason"], by=request.user)
        except ServiceError as error:
            form.add_error(None, error)
        else:
            reason = LedgerEntry.ReversalReason(form.cleaned_data["reason"]).label
            messages.success(request, f"Undone: {entry.grams} g of {entry.batch.substance} reversed ({reason.lower()}).")
            return HttpResponseRedirect(reverse("admin:distributions_desk"))
    return _render(request, site, lookup_form=LookupForm(), undo_form=form)


@never_cache
@require_POST
def told(request: HttpRequest, site) -> HttpResponse:
    """The coordinator told the member about a held or recalled batch they received."""
    _require_desk_permission(request)
    form = MemberToldForm(request.POST)
    member = find_member(request.user, form.cleaned_data["code"]) if form.is_valid() else None
    if member is None:
        lookup_form = LookupForm({"code": request.POST.get("code", "")})
        if lookup_form.is_valid():
            lookup_form.add_error("code", NOT_FOUND_MESSAGE)
        return _render(request, site, lookup_form=lookup_form)
    batch = form.cleaned_data["batch"]
    try:
        recall_services.member_told_record(member=member, batch=batch, by=request.user)
    except ServiceError as error:
        if error.code != "already_told":
            messages.error(request, str(error))
            return HttpResponseRedirect(reverse("admin:distributions_desk"))
    messages.success(request, f"Recorded: {member.display_code} was told about batch {batch.code}.")
    return HttpResponseRedirect(reverse("admin:distributions_desk"))
