"""The export pages inside the admin: a list of the exports the user may run, and one page per
export with its parameters. Downloads are POSTed (each one writes an audit record)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from compassionclub.errors import ServiceError
from compassionclub.security.client_ip import client_ip_address
from distributions.exports.base import registry
from distributions.exports.forms import ExportForm
from distributions.exports.services import export_run, exports_for, may_export


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def index(request: HttpRequest, site) -> TemplateResponse:
    if not may_export(request.user):
        raise PermissionDenied
    context = {**site.each_context(request), "title": "Exports", "exports": exports_for(request.user)}
    return TemplateResponse(request, "admin/exports/index.html", context)


def export(request: HttpRequest, identifier: str, site) -> HttpResponse:
    if not may_export(request.user):
        raise PermissionDenied
    exporter_class = registry().get(identifier)
    if exporter_class is None:
        raise Http404("No such export.")
    if not may_export(request.user, identifier):
        raise PermissionDenied
    initial = {}
    if request.method == "GET" and request.GET.get("batch", "").isdigit():
        initial["batch_id"] = int(request.GET["batch"])
    form = ExportForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        exporter_class=exporter_class,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        try:
            output = export_run(
                identifier=identifier,
                user=request.user,
                params=form.params(),
                fmt=form.cleaned_data["format"],
                # Passed, not left to the request's audit context: a streamed export is recorded
                # when its last row is sent, after the view has returned.
                ip_address=client_ip_address(request),
            )
        except ServiceError as error:
            form.add_error(None, error)
        else:
            if output.content is not None:
                return _attachment(HttpResponse(output.content, content_type=output.content_type), output.filename)
            return _attachment(
                StreamingHttpResponse(output.chunks, content_type=output.content_type), output.filename
            )
    context = {
        **site.each_context(request),
        "title": exporter_class.verbose_name,
        "exporter": exporter_class,
        "form": form,
    }
    return TemplateResponse(request, "admin/exports/export.html", context)


def admin_urls(site) -> list:
    return [
        path("exports/", site.admin_view(index), {"site": site}, name="exports"),
        path("exports/<slug:identifier>/", site.admin_view(export), {"site": site}, name="export"),
    ]
