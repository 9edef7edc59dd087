"""``manage.py export IDENTIFIER --user USERNAME``: the admin's exports from the command line.

The export is scoped to what USERNAME may see and recorded in the audit trail under that
user, exactly as from the admin. ``manage.py export --list`` names the exports.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from compassionclub.errors import ServiceError
from distributions.exports.base import PERIODS, WEEK, ExportParams, registry
from distributions.exports.services import export_run
from testing_results.models import Batch, Substance


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).")


class Command(BaseCommand):
    help = "Run an export (batch_report, batch_reports, ledger, distribution_summary) as a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", nargs="?", help="Which export; --list names them.")
        parser.add_argument("--list", action="store_true", help="List the exports and exit.")
        parser.add_argument("--user", help="Username the export runs as (scope and audit trail).")
        parser.add_argument("--format", dest="fmt", help="csv or pdf (default: the export's first format).")
        parser.add_argument("--from", dest="date_from", type=_date, help="Start date, local, inclusive.")
        parser.add_argument("--to", dest="date_to", type=_date, help="End date, local, inclusive.")
        parser.add_argument("--substance", help="Substance name.")
        parser.add_argument("--status", help="Batch status (batch_reports).")
        parser.add_argument("--period", choices=PERIODS, default=WEEK, help="week or month (distribution_summary).")
        parser.add_argument("--batch", help="Batch code (batch_report).")
        parser.add_argument("--member", help="Member code as printed on the card (ledger).")
        parser.add_argument("--output", "-o", help="File to write; standard output when absent.")

    def handle(self, *args, identifier=None, **options) -> None:
        exports = registry()
        if options["list"] or not identifier:
            for exporter in exports.values():
                self.stdout.write(f"{exporter.identifier:22} {', '.join(exporter.formats):5} {exporter.verbose_name}")
            return
        if identifier not in exports:
            raise CommandError(f"There is no export called {identifier!r}; try --list.")
        user = _user(options["user"])
        params = ExportParams(
            date_from=options["date_from"],
            date_to=options["date_to"],
            substance_id=_pk(Substance, "name__iexact", options["substance"], "substance called"),
            status=options["status"],
            period=options["period"],
            batch_id=_pk(Batch, "code", options["batch"], "batch with code"),
            member_code=options["member"],
        )
        fmt = options["fmt"] or exports[identifier].formats[0]
        if fmt == "pdf" and not options["output"]:
            raise CommandError("A PDF needs --output FILE.")
        try:
            output = export_run(identifier=identifier, user=user, params=params, fmt=fmt)
        except ServiceError as error:
            raise CommandError(f"{error.code}: {error}")
        if not options["output"]:
            for chunk in output.chunks:
                self.stdout.write(chunk.decode("utf-8"), ending="")
            return
        with open(options["output"], "wb") as target:
            if output.content is not None:
                target.write(output.content)
            else:
                for chunk in output.chunks:
                    target.write(chunk)
        self.stderr.write(f"Wrote {options['output']}")


def _user(username: str | None):
    if not username:
        raise CommandError("--user is required: exports are scoped to, and recorded under, a user.")
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user called {username!r}.")
    return user


def _pk(model, lookup: str, value: str | None, what: str) -> int | None:
    """The id of the ``model`` row whose ``lookup`` is ``value`` (None when no value was given)."""
    if not value:
        return None
    pk = model.objects.filter(**{lookup: value}).values_list("pk", flat=True).first()
    if pk is None:
        raise CommandError(f"No {what} {value!r}.")
    return pk
