"""The shared renderers: CSV (streamed, formula-injection safe) and PDF (WeasyPrint).

CSV: UTF-8 without a byte-order mark, one header row, ``\\r\\n`` line ends, decimals written
with a dot and never in exponent form, dates ISO 8601, datetimes ISO 8601 in America/Vancouver
with their offset. A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is prefixed with a single quote so a spreadsheet shows it as text instead of running it
as a formula (OWASP "CSV injection"). Numbers are written from their Python type (``Decimal``,
``int``) and are never prefixed: a negative number such as ``-3.500`` stays a number a
spreadsheet can add up, and a typed number cannot carry a formula. Only text is neutralised.

PDF: WeasyPrint is imported inside the function (it loads Pango and friends, which the rest of
the application never needs), and its URL fetcher refuses every URL, so a report can never
reach out to another server or read a local file, whatever ends up in its HTML.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Func, TextField

from distributions.exports.base import LOCAL_TZ

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Bytes gathered before a chunk is handed to the server; a few rows' worth, not the file.
FLUSH_BYTES = 64 * 1024


def neutral(text: str) -> str:
    """Text as a spreadsheet must show it: a leading formula character is quoted away."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(LOCAL_TZ).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return neutral(str(value))


def local_moment_sql(moment: str) -> str:
    """The SQL that renders the moment ``moment`` (a column or an expression) as ``csv_cell``
    writes it, in one ``to_char``: only in a transaction whose time zone is Vancouver
    (``in_local_time_zone``). ``LocalMoment`` gives the same text in any time zone, for twice the
    database's time (526 against 236 ms for 252,470 moments at ``bench_seed --scale 1``)."""
    return f"replace(to_char({moment}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', '')"


class LocalMoment(Func):
    """A moment as ``csv_cell`` writes it (``isoformat()`` in America/Vancouver: the fraction
    of a second only when there is one, the offset as ``-08:00``), rendered by PostgreSQL
    whatever the transaction's time zone."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra_context):
        moment, params = compiler.compile(self.source_expressions[0])
        local = f"({moment} AT TIME ZONE '{LOCAL_TZ.key}')"
        offset = f"({local} - ({moment} AT TIME ZONE 'UTC'))"
        parts = [
            (f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS')", 1),
            (f"CASE WHEN mod(CAST(date_part('microseconds', {moment}) AS bigint), 1000000) = 0 THEN ''", 1),
            (f"ELSE to_char({local}, '.US') END", 1),
            (f"CASE WHEN {offset} < INTERVAL '0' THEN '-' || to_char(-{offset}, 'HH24:MI')", 4),
            (f"ELSE '+' || to_char({offset}, 'HH24:MI') END", 2),
        ]
        sql = " || ".join([parts[0][0], f"{parts[1][0]} {parts[2][0]}", f"{parts[3][0]} {parts[4][0]}"])
        return sql, [p for _part, count in parts for _ in range(count) for p in params]


@contextlib.contextmanager
def in_local_time_zone():
    """Run the block with the transaction's time zone set to Vancouver (PostgreSQL, inside an
    atomic block), for ``local_moment_sql``'s one-call rendering. A block that ends sets the
    connection's own zone back: ``SET LOCAL`` in a savepoint outlives it, to the end of the
    caller's transaction, where the driver would read every moment in Vancouver time. A block
    that raises (a download cut short among them) rolls back its savepoint or transaction,
    which undoes the setting."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL TimeZone = '{LOCAL_TZ.key}'")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL TimeZone = '{connection.timezone_name}'")


class _Line:
    """A file-like object whose write() returns what it was given (Django's streaming CSV idiom)."""

    def write(self, value: str) -> str:
        return value


def csv_line(writer, cells: Sequence[str]) -> str:
    """``writer.writerow(cells)`` for cells that are all text, faster: a row none of whose cells
    holds a comma, a quote or a line break (hashes, ids, moments, codes: nearly every row) is its
    cells joined by commas, which is what the writer writes for it; any other row is the
    writer's. The writer cost eight microseconds a row of the ledger, most of a row's time."""
    line = ",".join(cells)
    if line and line.count(",") == len(cells) - 1 and '"' not in line and "\r" not in line and "\n" not in line:
        return line + "\r\n"
    return writer.writerow(cells)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], *, rendered: bool = False) -> Iterator[bytes]:
    """The CSV file in chunks. With ``rendered``, every row's cells are already ``csv_cell``'s
    text (an export that renders its own, faster, for large files); otherwise each value is
    rendered here."""
    writer = csv.writer(_Line(), lineterminator="\r\n")
    buffer: list[str] = [writer.writerow([csv_cell(h) for h in header])]
    size = len(buffer[0])
    for row in rows:
        line = csv_line(writer, row) if rendered else writer.writerow([csv_cell(v) for v in row])
        buffer.append(line)
        size += len(line)
        if size >= FLUSH_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def refuse_every_url(url: str, *args, **kwargs):
    raise ValueError(f"Reports load no external resources (refused {url[:80]!r}).")


def _refusing_fetcher():
    """A URL fetcher for the installed WeasyPrint that fetches nothing.

    WeasyPrint 68 and later take a ``URLFetcher`` object (its ``fetch`` is what loads); older
    versions take a plain function."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):

        class RefusingFetcher(urls.URLFetcher):
            def fetch(self, url, headers=None):
                return refuse_every_url(url)

        return RefusingFetcher()
    return refuse_every_url


def pdf_from_html(html: str) -> bytes:
    from weasyprint import HTML

    # WeasyPrint reports every layout step at INFO; keep the log to what matters.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    return HTML(string=html, base_url=None, url_fetcher=_refusing_fetcher()).write_pdf()
