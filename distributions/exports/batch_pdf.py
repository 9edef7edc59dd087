"""What every one-batch PDF export shares: it is asked for one batch, named and audited after it,
and rendered from one template stamped with when and for whom it was generated."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.template.loader import render_to_string
from django.utils import timezone

from distributions.exports.base import LOCAL_TZ, PDF, Exporter
from distributions.exports.render import pdf_from_html
from testing_results.models import Batch


class BatchPdf(Exporter):
    formats = (PDF,)
    parameters = ("batch_id",)
    required = ("batch_id",)
    template: ClassVar[str]
    # Set by check(), which refuses a batch outside the user's groups.
    batch: Batch

    def context(self) -> dict[str, Any]:
        raise NotImplementedError

    def audit_target(self) -> Batch:
        return self.batch

    def filename(self, fmt: str) -> str:
        return f"{self.identifier}_{self.batch.code}.{fmt}"

    def html(self, generated_at: dt.datetime | None = None) -> str:
        context = self.context()
        context["generated_at"] = (generated_at or timezone.now()).astimezone(LOCAL_TZ)
        context["generated_for"] = self.user.get_username()
        return render_to_string(self.template, context)

    def render_pdf(self) -> bytes:
        return pdf_from_html(self.html())
