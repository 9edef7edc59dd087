"""Recall pages inside the admin: one notice (what was found, stock to send back, the
group's affected members, what to tell them) and its acknowledgement (POST, then redirect)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from compassionclub.errors import ServiceError
from distributions.custody_selectors import pull_back
from distributions.exports.services import may_export
from distributions.recalls import services
from distributions.recalls.adverse_events import (
    adverse_event_report,
    adverse_threshold,
    adverse_threshold_set,
    may_report_adverse_events,
)
from distributions.recalls.forms import AdverseEventForm, ThresholdForm
from distributions.recalls.selectors import notice_view
from distributions.services.custody import handles_store
from distributions.visibility import members_visible_to, notices_visible_to
from members.scoping import is_coordinator_of


def _notice(request: HttpRequest, pk: int):
    notice = notices_visible_to(request.user).select_related("batch__substance", "group", "acknowledged_by", "status_change").filter(pk=pk).first()
    if notice is None:
        raise Http404("No such notice.")
    return notice


@never_cache
@require_http_methods(["GET"])
def notice_page(request: HttpRequest, pk: int, site) -> HttpResponse:
    notice = _notice(request, pk)
    view = notice_view(notice, request.user)
    user = request.user
    pull = pull_back(notice.batch, notice.group_id)
    context = {
        **site.each_context(request), "title": f"{notice.get_kind_display()}: batch {notice.batch.code}", "v": view,
        "can_export": may_export(user, "recall_poster"), "pull": pull,
        # The links show to whoever may act on the group's store; the pages check it again.
        "may_send_back": pull.store is not None and user.has_perm("distributions.add_manifest")
        and handles_store(user, pull.store),
        "may_destroy": pull.store is not None and user.has_perm("distributions.add_witnesseddestruction")
        and (user.has_perm("distributions.adjust_stock") or is_coordinator_of(user, notice.group_id)),
    }
    return TemplateResponse(request, "recalls/notice.html", context)


@never_cache
@require_POST
def notice_acknowledge(request: HttpRequest, pk: int, site) -> HttpResponse:
    notice = _notice(request, pk)
    try:
        services.recall_notice_acknowledge(notice=notice, by=request.user)
    except ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Acknowledged for {notice.group.short_name}: batch {notice.batch.code}.")
    return HttpResponseRedirect(reverse("admin:recalls_notice", args=[notice.pk]))


@never_cache
@require_http_methods(["GET", "POST"])
def adverse_event_page(request: HttpRequest, site) -> HttpResponse:
    """Report an adverse event (coordinators and drug checkers)."""
    if not may_report_adverse_events(request.user):
        raise PermissionDenied
    form = AdverseEventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = None
        code = form.cleaned_data["code"]
        if code:
            # Only the user's own members are found; another group's code reads as unknown.
            member = members_visible_to(request.user).filter(code=code).first()
            if member is None or not is_coordinator_of(request.user, member.group_id):
                form.add_error("code", "No member of your groups has this code.")
        if not form.errors:
            try:
                event = adverse_event_report(
                    batch=form.cleaned_data["batch"], occurred_at=form.cleaned_data["occurred_at"],
                    outcome=form.cleaned_data["outcome"], severity=form.cleaned_data["severity"],
                    by=request.user, member=member,
                )
            except ServiceError as error:
                field = {"occurred_in_future": "occurred_at", "occurred_before_receipt": "occurred_at",
                         "severity_mismatch": "severity", "member_not_in_your_group": "code",
                         "batch_never_released": "batch"}.get(error.code)
                form.add_error(field, error)
            else:
                held = " The batch is now on hold: nobody can hand it out until a release officer reviews it." if event.held_batch else ""
                messages.success(request, f"Adverse event recorded for batch {event.batch.code}.{held}")
                return HttpResponseRedirect(reverse("admin:recalls_adverse_event"))
    context = {**site.each_context(request), "title": "Report an adverse event", "form": form}
    return TemplateResponse(request, "recalls/adverse_event.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def threshold_page(request: HttpRequest, site) -> HttpResponse:
    """The programme's threshold for moderate reports (programme admins)."""
    if not request.user.has_perm("recalls.view_adverseeventthreshold"):
        raise PermissionDenied
    rule = adverse_threshold()
    may_change = request.user.has_perm("recalls.change_adverseeventthreshold")
    form = ThresholdForm(request.POST or None, initial={"moderate_count": rule.moderate_count, "window_days": rule.window_days})
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied
        if form.is_valid():
            try:
                adverse_threshold_set(by=request.user, **form.cleaned_data)
            except ServiceError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "The adverse-event threshold was changed.")
                return HttpResponseRedirect(reverse("admin:recalls_threshold"))
    context = {**site.each_context(request), "title": "Adverse-event hold threshold", "form": form, "rule": rule,
               "may_change": may_change}
    return TemplateResponse(request, "recalls/threshold.html", context)


def admin_urls(site) -> list:
    return [
        path("recalls/adverse-event/", site.admin_view(adverse_event_page), {"site": site}, name="recalls_adverse_event"),
        path("recalls/threshold/", site.admin_view(threshold_page), {"site": site}, name="recalls_threshold"),
        path("recalls/notice/<int:pk>/", site.admin_view(notice_page), {"site": site}, name="recalls_notice"),
        path(
            "recalls/notice/<int:pk>/acknowledge/",
            site.admin_view(notice_acknowledge), {"site": site},
            name="recalls_notice_acknowledge",
        ),
    ]
