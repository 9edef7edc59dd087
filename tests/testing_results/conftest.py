"""Fixtures for drug checking: a small compound vocabulary, heroin, and helpers that record
checks through the service (sample_mg=0 unless a test is about the ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests import factories as f
from tests.builders import finding, record_checks, vocabulary


@pytest.fixture
def vocab(db):
    return vocabulary(
        "heroin", "caffeine", "fentanyl", "carfentanil", "bromazolam", "isotonitazene", "xylazine", "medetomidine"
    )


@pytest.fixture
def heroin(vocab):
    return f.SubstanceFactory(name="Heroin", expected_compound=vocab["heroin"])


@pytest.fixture
def batch(heroin):
    return f.BatchFactory(substance=heroin, code="HER-2026-0900")


@pytest.fixture
def record(erin):
    """Record a check through the service, naming the test instrument or strip lot unless the
    test names one; strips of several classes become one check per class (the last returned)."""

    def _record(batch, method, findings, by=None, sample_mg="0", **kwargs):
        return record_checks(
            batch=batch, method=method, findings=findings, by=by or erin, sample_mg=Decimal(sample_mg), lab="Lab", **kwargs
        )[-1]

    return _record


CLEAN = {
    "ftir": lambda v: [finding(v["heroin"], "detected"), finding(v["caffeine"], "detected"), finding(v["fentanyl"], "not_detected")],
    "mass_spec": lambda v: [
        finding(v["heroin"], "detected", "62.4"), finding(v["caffeine"], "detected", "21"),
        finding(v["fentanyl"], "not_detected"), finding(v["bromazolam"], "not_detected"),
        finding(v["isotonitazene"], "not_detected"), finding(v["xylazine"], "not_detected"),
    ],
    "immunoassay": lambda v: [finding(v["fentanyl"], "negative"), finding(v["bromazolam"], "negative")],
}


@pytest.fixture
def clean_checks(record, vocab):
    """Record the three checks of a batch that passes every rule."""

    def _clean(batch, by=None, skip=()):
        return [record(batch, method, make(vocab), by=by) for method, make in CLEAN.items() if method not in skip]

    return _clean
