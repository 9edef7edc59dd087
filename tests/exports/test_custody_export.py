"""The chain of custody: receipt, manifests, counts, samples, destruction and hand-outs of a
batch, with who and when, as CSV and as a section of the batch report; no member code."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compassionclub.roles import Role
from distributions import services
from distributions.exports.base import ExportParams
from distributions.exports.batch_reports import BatchReportPdf, batch_record
from distributions.models import Account
from distributions.services.ledger import group_account, system_account
from testing_results import services as testing
from tests import factories as f
from tests.builders import clean_findings, record_checks
from tests.distributions.ledger_helpers import D, key, member_in
from tests.exports.helpers import run_csv, run_csv_text
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(erin, dana, pat, alice, carol, bob, group_a):
    """A batch received with its supplier's lot, checked, released, sent to VANDU on a manifest
    that arrived 0.2 g short, handed out, counted, part destroyed before a witness."""
    frank = f.UserFactory(username="frank", roles=[Role.DRUG_CHECKER])
    substance = f.SubstanceFactory(name="Heroin")
    receipt = services.batch_receipt_record(
        substance=substance, supplier_ref="SUP-0014", supplier_lot="L-77", packages=2, weighed_grams="100.000",
        received_on=timezone.localdate(), by=erin, witness=frank, witness_password=PASSWORD,
    )
    batch = receipt.batch
    for method, findings in clean_findings(substance).items():
        record_checks(batch=batch, method=method, findings=findings, by=erin, sample_mg=D("250"), lab="Lab")
    testing.batch_release(batch=batch, by=dana, reason="All checks passed.")
    store = group_account(group_a)
    manifest = services.manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL), to_store=store,
                                      grams=D(20), packages=1, by=pat)
    services.manifest_receive(manifest=manifest, grams_received="19.800", by=alice, reason="spillage")
    member = member_in(group_a)
    for grams in ("1.000", "2.000"):
        services.distribution_record(member=member, batch=batch, grams=D(grams), by=alice, idempotency_key=key())
    services.count_record(store=store, lines={batch: "16.700"}, by=alice, witness=carol, witness_password=PASSWORD)
    services.destruction_witnessed(batch=batch, store=store, grams="1.000", reason="damaged", method="incineration",
                                   by=alice, witness=carol, witness_password=PASSWORD)
    return {"batch": batch, "manifest": manifest, "member": member}


def test_the_custody_csv_follows_every_hand_off_with_who_and_when(story, charlie):
    rows = run_csv("custody", charlie, batch_id=story["batch"].pk)
    events = [r["event"] for r in rows]
    assert events[0] == "received from supplier"
    assert rows[0]["reference"] == "SUP-0014 lot L-77" and rows[0]["by"] == "erin" and rows[0]["second_person"] == "frank"
    assert rows[0]["packages"] == "2" and rows[0]["weighed_grams"] == "100.000"
    assert events.count("sampled by a check") == 3
    received = next(r for r in rows if r["event"] == "manifest received")
    assert (received["weighed_grams"], received["difference_grams"], received["reason"]) == ("19.800", "-0.200", "spillage")
    assert received["by"] == "alice" and received["reference"] == story["manifest"].code
    assert any(r["event"] == "manifest difference" and r["grams"] == "0.200" for r in rows)
    handed = next(r for r in rows if r["event"].startswith("handed out"))
    assert handed["grams"] == "3.000" and "2 hand-outs" in handed["event"]
    counted = next(r for r in rows if r["event"] == "count difference")
    assert (counted["weighed_grams"], counted["difference_grams"], counted["second_person"]) == ("16.700", "-0.100", "carol")
    destroyed = next(r for r in rows if r["event"].startswith("destroyed"))
    assert destroyed["event"] == "destroyed before a witness" and destroyed["second_person"] == "carol"
    text = run_csv_text("custody", charlie, batch_id=story["batch"].pk)
    assert story["member"].code not in text


def test_another_groups_coordinator_sees_only_what_is_visible_to_them(story, bob):
    rows = run_csv("custody", bob, batch_id=story["batch"].pk)
    # The batch is programme-wide; VANDU's manifests, counts and destruction are not SOLID's.
    assert {r["event"] for r in rows} <= {"received from supplier", "sampled by a check"}


def test_the_batch_report_has_the_chain_of_custody(story, charlie):
    record = batch_record(story["batch"], charlie)
    assert record["reconciled"]
    events = [e.event for e in record["custody"]]
    assert "manifest received" in events and "destroyed before a witness" in events
    html = BatchReportPdf(user=charlie, params=ExportParams(batch_id=story["batch"].pk))
    html.check()
    page = html.html()
    assert "Chain of custody" in page and story["manifest"].code in page and "SUP-0014 lot L-77" in page
    assert story["member"].code not in page


def test_a_cancelled_manifest_and_a_count_that_matched_are_hand_offs_too(story, pat, alice, carol, charlie, group_a):
    batch, store = story["batch"], group_account(group_a)
    back = services.manifest_send(batch=batch, from_store=store, to_store=system_account(Account.Kind.CENTRAL),
                                  grams=D("2"), packages=1, by=alice)
    services.manifest_cancel(manifest=back, by=alice)
    services.count_record(store=store, lines={batch: "15.700"}, by=carol, witness=alice, witness_password=PASSWORD)
    rows = run_csv("custody", charlie, batch_id=batch.pk)
    assert [r for r in rows if not (r["at"] and r["by"])] == []  # who and when, on every row
    cancelled = [r for r in rows if r["event"] == "manifest cancelled"]
    assert [(r["reference"], r["grams"], r["by"]) for r in cancelled] == [(back.code, "2.000", "alice")]
    matched = next(r for r in rows if r["event"] == "counted, matches the ledger")
    assert (matched["weighed_grams"], matched["difference_grams"], matched["by"], matched["second_person"]) == (
        "15.700", "0.000", "carol", "alice")


def test_the_batch_report_shows_every_kind_of_hand_off_with_who(story, charlie):
    exporter = BatchReportPdf(user=charlie, params=ExportParams(batch_id=story["batch"].pk))
    exporter.check()
    page = exporter.html()
    chain = page[page.index("Chain of custody"):page.index("<h2>Ledger</h2>")]
    for event in ("received from supplier", "sampled by a check", "manifest sent", "manifest received",
                  "manifest difference", "count difference", "destroyed before a witness", "handed out to members"):
        assert event in chain, event
    for who in ("erin", "frank", "pat", "alice", "carol"):  # receiver, weight witness, sender, receiver, signer
        assert f"<td>{who}</td>" in chain, who
    assert "19.800" in chain and "-0.200" in chain and "spillage" in chain and "16.700" in chain
