"""Exports and the dashboard cost the same number of queries however many rows they hold."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

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


# The audit record of every export: 2 savepoints, the chain head locked, the record inserted,
# the head moved, 2 savepoints released.
AUDIT = 7
VERIFY_ENTRIES_QUERIES = 0 if connection.vendor == "postgresql" else 1

# (identifier, format, params, queries for an auditor, queries for a coordinator)
EXPORTS = [
    # the findings with their check, batch, substance, compound and checker, joined: 1
    ("batch_reports", "csv", {}, AUDIT + 1, AUDIT + 1),
    # the entries with their predecessor's hash as a subquery: 1; for auditors the whole-ledger
    # verification: accounts, balances with their chain heads: 2, and the entries: 1 on SQLite
    # (PostgreSQL streams them through a server-side cursor on the driver's own connection,
    # which Django's query counter does not see). Coordinators do not get it.
    ("ledger", "csv", {}, AUDIT + 1 + 2 + VERIFY_ENTRIES_QUERIES, AUDIT + 1),
    # the cells, aggregated by the database: 1
    ("distribution_summary", "csv", {}, AUDIT + 1, AUDIT + 1),
    ("distribution_summary", "csv", {"period": "month"}, AUDIT + 1, AUDIT + 1),
    # batch (scoped); checks; their findings; the compounds; status history; grams by movement;
    # balances; their sum; last entry; method capabilities: 10; the release assessment
    # (testing_results.services.assess_release): 5; then the audit record
    ("batch_report", "pdf", "her", 10 + 5 + AUDIT, 10 + 5 + AUDIT),
]


@pytest.mark.django_db
@pytest.mark.parametrize("user_name", ["charlie", "alice"])
def test_exports_cost_the_same_queries_as_rows_grow(world, request, alice, erin, django_assert_num_queries, user_name):
    user = request.getfixturevalue(user_name)
    may_export(user)  # permissions and groups are cached on the user from here on
    entries_visible_to(user)  # and so are their groups' stores

    def run_all():
        for identifier, fmt, params, for_auditor, for_coordinator in EXPORTS:
            params = {"batch_id": world.her.pk} if params == "her" else params
            with django_assert_num_queries(for_auditor if user_name == "charlie" else for_coordinator):
                consume(identifier, user, fmt, **params)

    run_all()
    grow(world, alice, erin)
    run_all()
