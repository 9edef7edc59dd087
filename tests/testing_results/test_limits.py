"""Numeric detection limits: the most specific limit wins, "not detected" reads "below X" on the
batch page and the label, bad limits are refused, and no data loosens the floor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from compassionclub.errors import ServiceError
from testing_results import selectors, services
from testing_results.limits import LimitRow, LimitTable
from testing_results.models import DetectionLimit, Method
from tests import factories as f
from tests.testing_results.conftest import finding


def _limit(method="mass_spec", **kw):
    return DetectionLimit(method=Method.objects.get(code=method), **kw)


def test_the_most_specific_limit_wins():
    rows = [
        LimitRow("mass_spec", None, None, "", Decimal("0.1")),
        LimitRow("mass_spec", None, None, "fentanyl", Decimal("0.01")),
        LimitRow("mass_spec", None, 7, "", Decimal("0.005")),
        LimitRow("mass_spec", 3, None, "", Decimal("0.2")),
    ]
    table = LimitTable(rows)
    assert table.pct("mass_spec", None, 1, "stimulant") == Decimal("0.1")
    assert table.pct("mass_spec", None, 1, "fentanyl") == Decimal("0.01")
    assert table.pct("mass_spec", None, 7, "fentanyl") == Decimal("0.005")
    assert table.pct("mass_spec", 3, 7, "fentanyl") == Decimal("0.2")  # this instrument's own limit
    assert table.pct("ftir", None, 7, "fentanyl") is None
    assert table.below(method="immunoassay", strip=True, instrument_id=None, cutoff_ng_ml=Decimal("20.00"),
                       compound_id=7, drug_class="fentanyl") == "20 ng/mL"


@pytest.mark.django_db
def test_ftir_starts_with_its_floor_as_its_limit():
    assert DetectionLimit.objects.get(method="ftir").limit_pct == Decimal("5")


@pytest.mark.django_db
@pytest.mark.parametrize(("kwargs", "code"), [
    ({"limit_pct": "0"}, "bad_limit"),
    ({"limit_pct": "100.5"}, "bad_limit"),
    ({"limit_pct": "a little"}, "bad_limit"),
    ({"method": "immunoassay", "limit_pct": "1"}, "limit_for_strip"),
    ({"method": "ftir", "limit_pct": "4.9"}, "limit_loosens_floor"),
    ({"method": "ftir", "limit_pct": "1", "drug_class": "fentanyl"}, "limit_loosens_floor"),
    ({"limit_pct": "0.1", "drug_class": "fentanyl", "compound": "fentanyl"}, "limit_compound_or_class"),
    ({"limit_pct": "0.1", "instrument": "ftir"}, "instrument_wrong_method"),
    ({"method": "ftir", "limit_pct": "5"}, "limit_exists"),  # the seeded one
])
def test_a_bad_limit_is_refused_and_nothing_stored(kwargs, code, pat, vocab):
    kwargs = dict(kwargs)
    if "compound" in kwargs:
        kwargs["compound"] = vocab[kwargs["compound"]]
    if "instrument" in kwargs:
        kwargs["instrument"] = f.InstrumentFactory(method=kwargs["instrument"])
    before = list(DetectionLimit.objects.values_list("pk", "limit_pct"))
    with pytest.raises(ServiceError) as exc:
        services.detection_limit_set(limit=_limit(**kwargs), by=pat)
    assert exc.value.code == code and exc.value.message_text
    assert list(DetectionLimit.objects.values_list("pk", "limit_pct")) == before


@pytest.mark.django_db
def test_the_database_holds_the_ftir_floor_too(pat):
    seeded = DetectionLimit.objects.get(method="ftir")
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectionLimit.objects.filter(pk=seeded.pk).update(limit_pct=Decimal("0.5"))
    with pytest.raises(ServiceError) as exc:
        seeded.limit_pct = Decimal("0.5")
        services.detection_limit_set(limit=seeded, by=pat)
    assert exc.value.code == "limit_loosens_floor"


@pytest.mark.django_db
def test_not_detected_reads_below_its_limit_on_the_batch_page_and_the_label(client, batch, clean_checks, vocab, pat, dana):
    services.detection_limit_set(limit=_limit(drug_class="fentanyl", limit_pct="0.01"), by=pat)
    services.detection_limit_set(limit=_limit(limit_pct="0.1"), by=pat)
    clean_checks(batch)
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Fentanyl: below 0.01 %" in page and "Bromazolam: below 0.1 %" in page  # mass spectrometry
    assert "Fentanyl: below 20 ng/mL" in page  # the strip lot's cut-off
    assert "Fentanyl: below 5 %" in page  # FTIR's floor
    services.batch_release(batch=batch, by=dana, reason="All clear")
    batch.refresh_from_db()
    assert "No fentanyl or its analogues found by: immunoassay test strip, below 20 ng/mL; mass spectrometry, below 0.01 %" in batch.label_text
    assert "No benzodiazepines found by: immunoassay test strip, below 20 ng/mL; mass spectrometry, below 0.1 %" in batch.label_text


@pytest.mark.django_db
def test_an_instrument_of_its_own_limit_is_shown_with_it(batch, record, vocab, pat):
    own = f.InstrumentFactory(method="mass_spec", serial="Q-OLD")
    services.detection_limit_set(limit=_limit(limit_pct="0.1"), by=pat)
    services.detection_limit_set(limit=_limit(limit_pct="0.5", instrument=own), by=pat)
    record(batch, "mass_spec", [finding(vocab["fentanyl"], "not_detected")], instrument=own)
    record(batch, "mass_spec", [finding(vocab["bromazolam"], "not_detected")])
    facts = {fact.compound_name: fact.below for fact in selectors.release_evidence(batch).facts}
    assert facts == {"Fentanyl": "0.5 %", "Bromazolam": "0.1 %"}
