"""A programme with a history, built through the services: what the exports and the dashboard read.

- HER (heroin, 200 g): three clean checks by erin (17 mg of samples), released by dana, 80 g to
  VANDU and 40 g to SOLID, 7 VANDU members get 3.5 g each (one of those undone by a reversal),
  2 SOLID members get 2 g each, 1 g destroyed from the central store, then put on hold and
  released again.
- COC (cocaine, 100 g): clean checks, released, 30 g to VANDU, 2 VANDU members get 1 g each,
  then recalled.
- a third heroin batch waiting in quarantine with only an FTIR check.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.utils import timezone

from distributions import services as ledger
from members import services as members
from testing_results import services as testing
from testing_results.models import Batch
from tests import factories as f
from tests.builders import D, destroy, finding, record_checks, transfer, vocabulary


@dataclass
class World:
    vocab: dict
    heroin: object
    cocaine: object
    her: Batch
    coc: Batch
    waiting: Batch
    vandu_members: list = field(default_factory=list)
    solid_members: list = field(default_factory=list)
    reversed_entry: object = None


def clean_findings(v, active, active_pct):
    return {
        "ftir": [finding(v[active], "detected"), finding(v["caffeine"], "detected"), finding(v["fentanyl"], "not_detected")],
        "mass_spec": [
            finding(v[active], "detected", active_pct), finding(v["caffeine"], "detected", "21.5"),
            finding(v["fentanyl"], "not_detected"), finding(v["bromazolam"], "not_detected"),
            finding(v["isotonitazene"], "not_detected"), finding(v["xylazine"], "not_detected"),
        ],
        "immunoassay": [finding(v["fentanyl"], "negative"), finding(v["bromazolam"], "negative")],
    }


SAMPLE_MG = {"ftir": "5", "mass_spec": "2", "immunoassay": "10"}
LABS = {"ftir": "Bruker Alpha II", "mass_spec": "Partner lab LC-MS/MS", "immunoassay": "BTNX strips"}


def receive_and_check(substance, grams, vocab, active, pct, erin):
    batch = testing.batch_receive(substance=substance, grams=D(grams), received_on=timezone.localdate(), by=erin)
    for method, findings in clean_findings(vocab, active, pct).items():
        record_checks(
            batch=batch, method=method, findings=findings, by=erin, sample_mg=Decimal(SAMPLE_MG[method]), lab=LABS[method]
        )
    return batch


def distribute(member, batch, grams, by):
    return ledger.distribution_record(member=member, batch=batch, grams=D(grams), by=by, idempotency_key=uuid.uuid4().hex)


@pytest.fixture
def vocab(db):
    return vocabulary("heroin", "cocaine", "caffeine", "fentanyl", "bromazolam", "isotonitazene", "xylazine")


@pytest.fixture
def world(vocab, group_a, group_b, alice, bob, charlie, dana, erin, pat) -> World:
    heroin = f.SubstanceFactory(name="Heroin", expected_compound=vocab["heroin"])
    cocaine = f.SubstanceFactory(name="Cocaine", expected_compound=vocab["cocaine"])
    her = receive_and_check(heroin, "200", vocab, "heroin", "62.4", erin)
    coc = receive_and_check(cocaine, "100", vocab, "cocaine", "81.7", erin)
    for batch in (her, coc):
        testing.batch_release(batch=batch, by=dana, reason="All checks passed.")
    transfer(batch=her, to_group=group_a, grams=D("80"), by=pat)
    transfer(batch=her, to_group=group_b, grams=D("40"), by=pat)
    transfer(batch=coc, to_group=group_a, grams=D("30"), by=pat)

    world = World(vocab=vocab, heroin=heroin, cocaine=cocaine, her=her, coc=coc, waiting=None)
    world.vandu_members = [members.member_enrol(group=group_a, pin="482915", consent_version="2022-04", by=alice) for _ in range(7)]
    world.solid_members = [members.member_enrol(group=group_b, pin="482915", consent_version="2022-04", by=bob) for _ in range(2)]
    entries = [distribute(m, her, "3.5", alice) for m in world.vandu_members]
    world.reversed_entry = ledger.entry_reverse(entry=entries[0], reason="entered_by_mistake", by=alice).reverses
    for m in world.solid_members:
        distribute(m, her, "2", bob)
    for m in world.vandu_members[:2]:
        distribute(m, coc, "1", alice)
    destroy(batch=her, grams=D("1"), reason="damaged", by=pat)
    testing.batch_hold(batch=her, by=dana, reason="Drug alert under review.")
    testing.batch_release(batch=her, by=dana, reason="Alert does not concern this batch.")
    testing.batch_recall(batch=coc, by=dana, reason="Bromazolam found by a partner lab.")

    world.waiting = testing.batch_receive(substance=heroin, grams=D("50"), received_on=timezone.localdate(), by=erin)
    record_checks(
        batch=world.waiting, method="ftir", findings=[finding(vocab["heroin"], "detected")], by=erin,
        sample_mg=Decimal("5"), lab="Bruker Alpha II",
    )
    for batch in (world.her, world.coc, world.waiting):
        batch.refresh_from_db()
    return world


def today_range() -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    return today - dt.timedelta(days=1), today + dt.timedelta(days=1)
