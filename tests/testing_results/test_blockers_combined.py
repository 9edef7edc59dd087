"""One table: every case of the older blockers, each combined with the newer ones (a strip lot
expired, an instrument past its verification, a stand-in used after instruments were kept),
judged as one list of plain messages that never contradicts itself, on the batch page too."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from testing_results import services
from testing_results.models import Compound, DrugCheck, Instrument, StripLot
from testing_results.rules import PRESENT, class_name, strip_word
from tests.testing_results.test_release_rule import CASES, DET, ND, NEG, _record_case, _with

OLD_CASES = CASES + [
    # A class found is not also asked for: no "there is no fentanyl strip" under "fentanyl found".
    ("fentanyl found by MS, no strips",
     _with(immunoassay=None, mass_spec=[("heroin", DET), ("fentanyl", DET, "1.2"), ("isotonitazene", ND), ("bromazolam", ND)]),
     ["harmful_detected", "strip_missing"]),
    ("xylazine found by FTIR, fentanyl strip only",
     _with(ftir=[("heroin", DET), ("xylazine", DET)], immunoassay=[("fentanyl", NEG)]),
     ["harmful_detected", "strip_missing"]),
]


def _expire_strips(batch) -> None:
    for check in DrugCheck.objects.filter(batch=batch, method="immunoassay"):
        StripLot.objects.filter(pk=check.strip_lot_id).update(expires_on=_day_before(check))


def _unverify_ftir(batch) -> None:
    for check in DrugCheck.objects.filter(batch=batch, method="ftir"):
        Instrument.objects.filter(pk=check.instrument_id).update(verified_until=_day_before(check))


def _stand_in_for_ms(batch) -> None:
    stand_in = Instrument.objects.get(serial="unrecorded-mass_spec")  # the data migration's
    DrugCheck.objects.filter(batch=batch, method="mass_spec").update(instrument=stand_in)


def _day_before(check: DrugCheck) -> dt.date:
    return timezone.localtime(check.performed_at).date() - dt.timedelta(days=1)


def _found_something(check: DrugCheck) -> bool:
    return check.findings.filter(compound__category=Compound.Category.HARMFUL, result__in=PRESENT).exists()


def _newly_blocked(batch, method: str, code: str) -> list[str]:
    """One ``code`` per check of ``method``, except a check that found a harmful compound: its
    finding stands, and "cannot be trusted, retest" would contradict "found"."""
    return [code for check in DrugCheck.objects.filter(batch=batch, method=method) if not _found_something(check)]


NEW = [
    ("", None, None, None),
    ("lots expired", _expire_strips, "immunoassay", "strip_lot_expired"),
    ("FTIR not verified", _unverify_ftir, "ftir", "instrument_not_verified"),
    ("MS on the stand-in", _stand_in_for_ms, "mass_spec", "source_unrecorded"),
]
TABLE = [
    (f"{old[0]}{' + ' + new[0] if new[0] else ''}", old, new)
    for old in OLD_CASES
    for new in NEW
]


def _assert_plain_and_consistent(assessment) -> None:
    messages = [b.message for b in assessment.blockers]
    assert all(m and m[0].isupper() and m.endswith(".") for m in messages)
    assert not any(code in m for code in assessment.codes for m in messages)  # messages, never codes
    assert len(messages) == len(set(messages))  # nothing said twice
    found = {b.subject for b in assessment.blockers if b.code == "harmful_detected"}
    classes = Compound.objects.filter(name__in=found).values_list("drug_class", flat=True)
    for drug_class in classes:
        for blocker in assessment.blockers:
            if blocker.code in ("class_not_ruled_out", "strip_missing", "strip_invalid"):
                assert class_name(drug_class) not in blocker.message
                assert f"{strip_word(drug_class)} strip" not in blocker.message


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "old", "new"), TABLE, ids=[t[0] for t in TABLE])
def test_every_old_case_with_every_new_one(name, old, new, batch, record, vocab):
    _name, checks, codes = old
    _label, age, method, code = new
    _record_case(batch, checks, record, vocab)
    expected = list(codes)
    if age is not None:
        age(batch)
        expected += _newly_blocked(batch, method, code)
    assessment = services.assess_release(batch)
    assert sorted(assessment.codes) == sorted(expected)
    assert assessment.releasable is (not expected)
    _assert_plain_and_consistent(assessment)


@pytest.mark.django_db
def test_the_batch_page_shows_one_list_of_plain_messages(client, batch, record, vocab, dana):
    checks = {"ftir": [("heroin", DET), ("fentanyl", ND)],
              "mass_spec": [("heroin", DET), ("fentanyl", DET, "1.2"), ("isotonitazene", ND)]}
    _record_case(batch, checks, record, vocab)
    _unverify_ftir(batch)
    assessment = services.assess_release(batch)
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert page.count('class="tr-blockers"') == 1
    assert "Do not release: fentanyl found" in page
    for blocker in assessment.blockers:
        assert f'data-code="{blocker.code}">{blocker.message}' in page.replace("&#x27;", "'")
    # fentanyl: found, so neither "not ruled out" nor "there is no fentanyl strip"
    assert "ruled out fentanyl" not in page and "no fentanyl strip" not in page
    # benzodiazepines: the missing strip is asked for once, not also "no strip check" and "nothing has ruled them out"
    assert sorted(assessment.codes) == sorted(["harmful_detected", "strip_missing", "instrument_not_verified"])
