"""Fixtures for drug checking: a small compound vocabulary, heroin, and helpers that record
checks through the service (sample_mg=0 unless a test is about the ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from testing_results.models import Compound
from tests import factories as f
from tests.builders import record_checks

C, D = Compound.Category, Compound.DrugClass


@pytest.fixture
def vocab(db):
    spec = {
        "heroin": ("Heroin (diacetylmorphine)", C.ACTIVE, D.OPIOID),
        "caffeine": ("Caffeine", C.CUT, D.OTHER),
        "fentanyl": ("Fentanyl", C.HARMFUL, D.FENTANYL),
        "carfentanil": ("Carfentanil", C.HARMFUL, D.FENTANYL),
        "bromazolam": ("Bromazolam", C.HARMFUL, D.BENZODIAZEPINE),
        "isotonitazene": ("Isotonitazene", C.HARMFUL, D.NITAZENE),
        "xylazine": ("Xylazine", C.HARMFUL, D.XYLAZINE),
        "medetomidine": ("Medetomidine", C.CUT, D.ALPHA2_AGONIST),
    }
    return {key: f.CompoundFactory(name=name, category=cat, drug_class=cls) for key, (name, cat, cls) in spec.items()}


@pytest.fixture
def heroin(vocab):
    return f.SubstanceFactory(name="Heroin", expected_compound=vocab["heroin"])


@pytest.fixture
def batch(heroin):
    return f.BatchFactory(substance=heroin, code="HER-2026-0900")


def finding(compound, result, pct=None):
    return {"compound": compound, "result": result, "concentration_pct": Decimal(pct) if pct else None}


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
