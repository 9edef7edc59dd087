"""Recorded limits feed the release rule: the limit a "not detected" is shown "below" is the one
the rule judges it by (this instrument's before the method's, this compound's before its
class's). A limit as coarse as FTIR's floor rules out none of the classes that kill at traces,
whatever the capability table grants; a limit never grants what the table does not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from testing_results import services
from testing_results.models import Batch, Compound, DetectionLimit, Method
from testing_results.rules import (
    DEFAULT_CAPS,
    FTIR_BLIND,
    POTENT_LIMIT_PCT,
    Capabilities,
    Fact,
    could_rule_out,
    rules_out,
)
from tests import factories as f
from tests.testing_results.conftest import finding
from tests.testing_results.test_release_rule import CLEAN, _record_case

D = Compound.DrugClass


def _limit(method="mass_spec", **kw):
    return DetectionLimit(method=Method.objects.get(code=method), **kw)


def _fact(method="mass_spec", drug_class=D.NITAZENE, limit=None, result="not_detected"):
    return Fact(1, method, timezone.now(), 1, 9, "Isotonitazene", "harmful", drug_class, result, None,
                below=f"{limit} %" if limit is not None else "", limit_pct=limit)


ALL_GRANTED = Capabilities.from_rows([(m, c, True, False) for m in ("ftir", "mass_spec", "hplc") for c in D.values])


@given(
    method=st.sampled_from(["ftir", "mass_spec", "hplc"]),
    drug_class=st.sampled_from(D.values),
    limit=st.none() | st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100"), places=4),
)
def test_no_limit_loosens_the_floor(method, drug_class, limit):
    """Whatever limit is recorded, with every capability granted: FTIR never rules out the
    potent classes, and nothing with a limit at or above FTIR's floor does either."""
    counts = rules_out(_fact(method, drug_class, limit), drug_class, ALL_GRANTED)
    if drug_class in FTIR_BLIND and (method == "ftir" or (limit is not None and limit >= POTENT_LIMIT_PCT)):
        assert not counts
    else:
        assert counts
    # and a limit never grants what the table does not
    assert not rules_out(_fact("hplc", drug_class, limit), drug_class, DEFAULT_CAPS)


def test_the_watch_list_reads_the_limit_too():
    caps = Capabilities.from_rows([("mass_spec", D.NITAZENE, True, False)])
    assert could_rule_out([_fact(limit=Decimal("0.01"))], 9, D.NITAZENE, caps)
    assert not could_rule_out([_fact(limit=Decimal("5"))], 9, D.NITAZENE, caps)


@pytest.mark.django_db
def test_a_coarse_ms_limit_for_nitazenes_blocks_release_and_says_why(batch, record, vocab, pat):
    services.detection_limit_set(limit=_limit(drug_class="nitazene", limit_pct="5"), by=pat)
    _record_case(batch, CLEAN, record, vocab)
    assessment = services.assess_release(batch)
    assert assessment.codes == ["class_not_ruled_out"]
    assert assessment.blockers[0].message == (
        "Mass spectrometry reported nitazenes below 5 %: too coarse to rule them out (they kill far below 5 %). "
        "Mass spectrometry with a finer limit or a strip must."
    )


@pytest.mark.django_db
def test_a_fine_limit_rules_them_out(batch, record, vocab, pat):
    services.detection_limit_set(limit=_limit(drug_class="nitazene", limit_pct="4.9"), by=pat)
    _record_case(batch, CLEAN, record, vocab)
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
def test_the_instruments_own_limit_is_what_the_rule_uses(client, batch, record, vocab, pat, dana):
    old = f.InstrumentFactory(method="mass_spec", serial="Q-OLD", verified_until=timezone.localdate() + dt.timedelta(days=30))
    services.detection_limit_set(limit=_limit(drug_class="nitazene", limit_pct="0.01"), by=pat)
    services.detection_limit_set(limit=_limit(compound=vocab["isotonitazene"], instrument=old, limit_pct="8"), by=pat)
    checks = {m: fs for m, fs in CLEAN.items() if m != "mass_spec"}
    _record_case(batch, checks, record, vocab)
    ms = [finding(vocab["heroin"], "detected", "62.4"), finding(vocab["isotonitazene"], "not_detected"),
          finding(vocab["fentanyl"], "not_detected"), finding(vocab["bromazolam"], "not_detected")]
    record(batch, "mass_spec", ms, instrument=old)
    assessment = services.assess_release(batch)
    assert assessment.codes == ["class_not_ruled_out"] and "below 8 %" in assessment.blockers[0].message
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Isotonitazene: below 8 %" in page  # what the page shows is what the rule judged
    # The same panel on another instrument (the method's 0.01 %) clears it.
    record(batch, "mass_spec", ms)
    assert services.assess_release(batch).releasable
    services.batch_release(batch=batch, by=dana, reason="All clear")
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.RELEASED


@pytest.mark.django_db
def test_ftir_alone_states_its_floor_as_the_pdf_does(batch, record, vocab):
    checks = {"ftir": [("heroin", "detected"), ("isotonitazene", "not_detected")],
              "mass_spec": [("heroin", "detected", "60"), ("fentanyl", "not_detected"), ("bromazolam", "not_detected")],
              "immunoassay": CLEAN["immunoassay"]}
    _record_case(batch, checks, record, vocab)
    (blocker,) = services.assess_release(batch).blockers
    assert blocker.message == (
        "Only FTIR reported nitazenes as not detected (below 5 %). FTIR cannot see anything below about 5 %, and "
        "they kill far below that, so it does not rule them out: mass spectrometry or a strip must."
    )
    from distributions.exports.batch_reports import GENERAL_LIMITS

    assert "about 5 % of the sample" in GENERAL_LIMITS["ftir"] and "5-10" not in GENERAL_LIMITS["ftir"]
