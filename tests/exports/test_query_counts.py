"""Exports and the dashboard cost the same number of queries however many rows they hold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from distributions.exports.base import ExportParams
from distributions.exports.services import export_run, may_export
from distributions.visibility import entries_visible_to
from tests.builders import record_checks
from tests.exports.conftest import distribute, finding


def consume(identifier, user, fmt="csv", **params):
    output = export_run(identifier=identifier, user=user, params=ExportParams(**params), fmt=fmt)
    return output.content if output.content is not None else b"".join(output.chunks)


def grow(world, alice, erin):
    """More distributions, checks and findings: every export has more rows to write."""
    for member in world.vandu_members[1:]:
        distribute(member, world.her, "3.5", alice)
        distribute(member, world.her, "3.5", alice)
    for method in ("mass_spec", "immunoassay"):
        findings = {
            "mass_spec": [finding(world.vocab["heroin"], "detected", "40"), finding(world.vocab["fentanyl"], "not_detected")],
            "immunoassay": [finding(world.vocab["fentanyl"], "negative"), finding(world.vocab["bromazolam"], "negative")],
        }[method]
        record_checks(batch=world.waiting, method=method, findings=findings, by=erin, sample_mg=Decimal("2"), lab="Lab")
        record_checks(batch=world.her, method=method, findings=findings, by=erin, sample_mg=Decimal("2"), lab="Lab")


# What each export asks the database, whatever its size (the test compares the counts at two
# sizes rather than against these figures, which change with the code; they are here to read):
# - every export: its audit record (2 savepoints, the chain head locked, the record inserted, the
#   head moved, 2 savepoints released);
# - batch_reports: the findings with their check, batch, substance, compound and checker, joined;
# - ledger: the entries with their predecessor's hash as a subquery;
# - ledger_verification (auditors only): accounts, balances with their chain heads, and on SQLite
#   the entries (PostgreSQL streams those through a server-side cursor the counter does not see);
# - distribution_summary: the cells, aggregated by the database;
# - custody: the entries with their custody records joined, the counts that matched, the
#   hand-outs summed per store and day;
# - batch_report (PDF): the batch, checks, findings, compounds, status history, grams by movement,
#   balances, their sum, last entry, method capabilities, adverse events by severity, the release
#   assessment, then the chain of custody (as the custody export).
AUDITORS_ONLY = {"ledger_verification"}
EXPORTS = [
    ("custody", "csv", {}),
    ("batch_reports", "csv", {}),
    ("ledger", "csv", {}),
    ("ledger_verification", "csv", {}),
    ("distribution_summary", "csv", {}),
    ("distribution_summary", "csv", {"period": "month"}),
    ("batch_report", "pdf", "her"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("user_name", ["charlie", "alice"])
def test_exports_cost_the_same_queries_as_rows_grow(world, request, alice, erin, user_name):
    user = request.getfixturevalue(user_name)
    may_export(user)  # permissions and groups are cached on the user from here on
    entries_visible_to(user)  # and so are their groups' stores

    def run_all() -> list[tuple[str, int]]:
        counts = []
        for identifier, fmt, params in EXPORTS:
            if identifier in AUDITORS_ONLY and user_name == "alice":
                continue
            params = {"batch_id": world.her.pk} if params == "her" else params
            with CaptureQueriesContext(connection) as queries:
                consume(identifier, user, fmt, **params)
            counts.append((identifier, len(queries.captured_queries)))
        return counts

    small = run_all()
    grow(world, alice, erin)
    assert run_all() == small
