"""Running an export in a test and parsing what comes back."""

from __future__ import annotations

import csv
import io

from distributions.exports.base import ExportParams
from distributions.exports.services import export_run


def run_csv(identifier: str, user, **params) -> list[dict[str, str]]:
    """The export's rows as dicts (trailer rows included, as the file has them)."""
    output = export_run(identifier=identifier, user=user, params=ExportParams(**params), fmt="csv")
    text = b"".join(output.chunks).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def run_csv_text(identifier: str, user, **params) -> str:
    output = export_run(identifier=identifier, user=user, params=ExportParams(**params), fmt="csv")
    return b"".join(output.chunks).decode("utf-8")
