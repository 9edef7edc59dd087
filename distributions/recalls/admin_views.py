"""Recall pages inside the admin: one notice (what was found, stock to send back, the
group's affected members, what to tell them) and its acknowledgement (POST, then redirect)."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from compassionclub.errors import ServiceError
from distributions.recalls import services
from distributions.recalls.selectors import notice_view
from distributions.visibility import notices_visible_to


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
    context = {**site.each_context(request), "title": f"{notice.get_kind_display()}: batch {notice.batch.code}", "v": view}
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


def admin_urls(site) -> list:
    return [
        path("recalls/notice/<int:pk>/", site.admin_view(partial(notice_page, site=site)), name="recalls_notice"),
        path(
            "recalls/notice/<int:pk>/acknowledge/",
            site.admin_view(partial(notice_acknowledge, site=site)),
            name="recalls_notice_acknowledge",
        ),
    ]
