"""The lab report download: private files, served only to staff who may see the batch."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from testing_results import selectors
from testing_results.models import DrugCheck


@require_GET
def lab_report(request: HttpRequest, pk: int) -> FileResponse:
    """Wrapped in ``admin_site.admin_view`` (staff login). The file lives in private storage,
    which has no URL of its own; this view is the only way to it."""
    user = request.user
    if not user.has_perm("testing_results.view_lab_report"):
        raise PermissionDenied
    drug_check = get_object_or_404(DrugCheck.objects.select_related("batch"), pk=pk)
    if not selectors.batch_visible_to(user, drug_check.batch):
        raise PermissionDenied
    if not drug_check.lab_report:
        raise Http404("This check has no lab report.")
    try:
        handle = drug_check.lab_report.open("rb")
    except FileNotFoundError:
        raise Http404("The lab report file is missing from storage.")
    filename = f"{drug_check.batch.code}-{drug_check.method_id}-{drug_check.pk}.pdf"
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type="application/pdf")
    patch_cache_control(response, private=True, no_store=True)
    return response
