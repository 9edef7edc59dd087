"""Running an export: the one path the admin pages and ``manage.py export`` share."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction

from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError, not_permitted
from distributions.exports.base import CSV, PDF, Exporter, ExportOutput, ExportParams, get_exporter, registry
from distributions.exports.render import csv_chunks

CONTENT_TYPES = {CSV: "text/csv; charset=utf-8", PDF: "application/pdf"}


def may_export(user, identifier: str | None = None) -> bool:
    """Whether ``user`` may run the export ``identifier`` (its own permission), or, without one,
    any export at all."""
    if user is None or not user.is_active:
        return False
    if identifier is None:
        return bool(exports_for(user))
    exporter_class = registry().get(identifier)
    return exporter_class is not None and user.has_perm(exporter_class.permission)


def exports_for(user) -> list[type[Exporter]]:
    """The exports a user may run (each scoped to the user's groups), by each export's permission."""
    if user is None or not user.is_active:
        return []
    return [e for e in registry().values() if user.has_perm(e.permission)]


def _stream(exporter: Exporter) -> Iterator[bytes]:
    def rows():
        yield from exporter.rows()
        yield from exporter.trailer()

    return csv_chunks(exporter.header(), rows(), rendered=exporter.rendered)


def _audited_stream(chunks: Iterator[bytes], record) -> Iterator[bytes]:
    """The chunks, then the audit record once the last one is out. A download cut short (the
    client went away, or a row failed) is recorded too, as not completed, with what was sent."""
    sent = 0
    completed = False
    try:
        for chunk in chunks:
            sent += len(chunk)
            yield chunk
        completed = True
    finally:
        # The rows are closed first: on PostgreSQL the ledger reads them in a transaction of its
        # own, which would otherwise still be open here and roll the record back once it closes.
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        record(completed=completed, sent_bytes=sent)


def export_run(
    *, identifier: str, user, params: ExportParams, fmt: str, ip_address: str | None = None
) -> ExportOutput:
    """Check, hand back the export, and record it in the audit trail when it is complete.

    Refuses (``ServiceError``) an unknown export, a user without the export's permission, a format
    the export does not offer, bad parameters or an object outside the user's groups, before
    anything is written or streamed. The audit record ``export.<identifier>`` names who asked for
    what and how much was sent: a PDF once rendered, a CSV once its last chunk is out (or as not
    completed, when the stream stops short).
    """
    if not may_export(user):
        raise not_permitted("You do not have permission to export reports.")
    exporter_class = get_exporter(identifier)
    if not user.has_perm(exporter_class.permission):
        raise not_permitted(f"You do not have permission to export the {exporter_class.verbose_name.lower()}.")
    if fmt not in exporter_class.formats:
        offered = ", ".join(exporter_class.formats)
        raise ServiceError("bad_format", f"This export is offered as {offered}, not {fmt}.")
    exporter = exporter_class(user=user, params=params)
    exporter.check()
    output = ExportOutput(filename=exporter.filename(fmt), content_type=CONTENT_TYPES[fmt])
    target = exporter.audit_target()

    def record(*, completed: bool, sent_bytes: int) -> None:
        with transaction.atomic():
            audit_log(
                action=f"export.{identifier}",
                actor=user,
                target=target,
                target_repr=None if target is not None else exporter_class.verbose_name,
                new={"format": fmt, **params.as_audit(), "completed": completed, "bytes": sent_bytes},
                ip_address=ip_address,
            )

    if fmt == PDF:
        # Rendered first, so that a failure to render leaves no record of an export that never was.
        output.content = exporter.render_pdf()
        record(completed=True, sent_bytes=len(output.content))
    else:
        output.chunks = _audited_stream(_stream(exporter), record)
    return output
