"""Running an export: the one path the admin pages and ``manage.py export`` share."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, not_permitted
from distributions.exports.base import CSV, PDF, Exporter, ExportOutput, ExportParams, get_exporter, registry
from distributions.exports.render import csv_chunks

CONTENT_TYPES = {CSV: "text/csv; charset=utf-8", PDF: "application/pdf"}


def may_export(user) -> bool:
    return bool(user is not None and user.is_active and user.has_perm("distributions.export_reports"))


def exports_for(user) -> list[type[Exporter]]:
    """The exports a user may run (all of them, each scoped to the user's groups), or none."""
    return list(registry().values()) if may_export(user) else []


def _stream(exporter: Exporter) -> Iterator[bytes]:
    def rows():
        yield from exporter.rows()
        yield from exporter.trailer()

    return csv_chunks(exporter.header(), rows())


def export_run(
    *, identifier: str, user, params: ExportParams, fmt: str, ip_address: str | None = None
) -> ExportOutput:
    """Check, record in the audit trail, and hand back the export.

    Refuses (``ServiceError``) an unknown export, a user without ``export_reports``, a format
    the export does not offer, bad parameters or an object outside the user's groups, before
    anything is written. The audit record ``export.<identifier>`` names who asked for what;
    the PDF is rendered before it, the CSV is produced while it is streamed, after it.
    """
    if not may_export(user):
        raise not_permitted("You do not have permission to export reports.")
    exporter_class = get_exporter(identifier)
    if fmt not in exporter_class.formats:
        offered = ", ".join(exporter_class.formats)
        raise ServiceError("bad_format", f"This export is offered as {offered}, not {fmt}.")
    exporter = exporter_class(user=user, params=params)
    exporter.check()
    output = ExportOutput(filename=exporter.filename(fmt), content_type=CONTENT_TYPES[fmt])
    if fmt == PDF:
        # Rendered first, so that a failure to render leaves no record of an export that never was.
        output.content = exporter.render_pdf()
    else:
        output.chunks = _stream(exporter)
    with transaction.atomic(durable=True):
        target = exporter.audit_target()
        audit_log(
            action=f"export.{identifier}",
            actor=user,
            target=target,
            target_repr=None if target is not None else exporter_class.verbose_name,
            new={"format": fmt, **params.as_audit()},
            ip_address=ip_address,
        )
    return output
