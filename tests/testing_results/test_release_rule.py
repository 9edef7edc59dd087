"""The release rule: one case per blocker, combined cases, and the rule's floor."""

from __future__ import annotations

import pytest

from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import Batch, MethodCapability
from tests.testing_results.conftest import finding

ND, DET, NEG, POS, INV = "not_detected", "detected", "negative", "positive", "invalid"

CLEAN = {
    "ftir": [("heroin", DET), ("caffeine", DET)],
    "mass_spec": [("heroin", DET, "62.4"), ("fentanyl", ND), ("bromazolam", ND), ("isotonitazene", ND)],
    "immunoassay": [("fentanyl", NEG), ("bromazolam", NEG)],
}


def _with(**changes):
    checks = {m: list(fs) for m, fs in CLEAN.items()}
    for method, findings in changes.items():
        if findings is None:
            checks.pop(method)
        else:
            checks[method] = findings
    return checks


CASES = [
    ("all clean", CLEAN, []),
    # A method not checked at all is said once (with what it must confirm), strips once per class.
    ("no FTIR check", _with(ftir=None), ["method_missing"]),
    ("no mass spectrometry", _with(mass_spec=None),
     ["method_missing", "class_not_ruled_out"]),  # nitazenes: only MS saw them
    ("no strips", _with(immunoassay=None), ["strip_missing", "strip_missing"]),
    ("FTIR does not confirm heroin", _with(ftir=[("heroin", ND), ("caffeine", DET)]), ["expected_not_confirmed"]),
    ("MS does not confirm heroin", _with(mass_spec=[("heroin", ND), ("isotonitazene", ND)]), ["expected_not_confirmed"]),
    ("fentanyl found by MS", _with(mass_spec=[("heroin", DET), ("fentanyl", DET, "1.2"), ("isotonitazene", ND)]),
     ["harmful_detected"]),
    ("xylazine found by FTIR", _with(ftir=[("heroin", DET), ("xylazine", DET)]), ["harmful_detected"]),
    ("fentanyl strip positive", _with(immunoassay=[("fentanyl", POS), ("bromazolam", NEG)]), ["harmful_detected"]),
    ("benzodiazepine strip invalid", _with(immunoassay=[("fentanyl", NEG), ("bromazolam", INV)]), ["strip_invalid"]),
    ("no benzodiazepine strip", _with(immunoassay=[("fentanyl", NEG)]), ["strip_missing"]),
    ("nitazenes never looked for", _with(mass_spec=[("heroin", DET)]), ["class_not_ruled_out"]),
    ("FTIR alone says no nitazenes", _with(mass_spec=[("heroin", DET)], ftir=[("heroin", DET), ("isotonitazene", ND)]),
     ["class_not_ruled_out"]),
    (
        "FTIR alone says no fentanyl",
        {"ftir": [("heroin", DET), ("fentanyl", ND)], "mass_spec": [("heroin", DET), ("isotonitazene", ND), ("bromazolam", ND)],
         "immunoassay": [("bromazolam", NEG)]},
        ["strip_missing", "class_not_ruled_out"],
    ),
    (
        "everything wrong at once",
        {"ftir": [("heroin", ND), ("fentanyl", ND)], "immunoassay": [("fentanyl", POS), ("bromazolam", INV)]},
        ["method_missing", "expected_not_confirmed", "harmful_detected",
         "strip_invalid", "class_not_ruled_out", "class_not_ruled_out"],  # fentanyl: found, so not also "not ruled out"
    ),
]


def _record_case(batch, checks, record, vocab, by=None):
    for method, findings in checks.items():
        record(batch, method, [finding(vocab[key], result, *pct) for key, result, *pct in findings], by=by)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "checks", "codes"), CASES, ids=[c[0] for c in CASES])
def test_it_reports_every_blocker(name, checks, codes, batch, record, vocab):
    _record_case(batch, checks, record, vocab)
    assessment = services.assess_release(batch)
    assert sorted(assessment.codes) == sorted(codes)
    assert assessment.releasable is (not codes)
    assert all(b.message for b in assessment.blockers)


@pytest.mark.django_db
def test_a_refused_release_lists_every_blocker_and_stores_nothing(batch, record, vocab, dana):
    _record_case(batch, CASES[-1][1], record, vocab)
    with pytest.raises(ServiceError) as exc:
        services.batch_release(batch=batch, by=dana, reason="Looks fine")
    assert exc.value.code == "release_blocked"
    assert len(exc.value.details["blockers"]) == len(CASES[-1][2])
    batch.refresh_from_db()
    assert batch.status == Batch.Status.QUARANTINED and batch.label_text == ""
    assert not batch.status_history.exists()


@pytest.mark.django_db
def test_ftir_only_not_detected_for_fentanyl_explains_why(batch, record, vocab):
    _record_case(batch, CASES[13][1], record, vocab)
    messages = [b.message for b in services.assess_release(batch).blockers if b.code == "class_not_ruled_out"]
    assert messages == [messages[0]] and "FTIR" in messages[0] and "fentanyl" in messages[0]


@pytest.mark.django_db
def test_a_repeated_strip_after_an_invalid_one_counts(batch, record, vocab):
    _record_case(batch, _with(immunoassay=[("fentanyl", NEG), ("bromazolam", INV)]), record, vocab)
    assert services.assess_release(batch).codes == ["strip_invalid"]
    record(batch, "immunoassay", [finding(vocab["bromazolam"], NEG)])
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
def test_a_negative_strip_does_not_clear_an_earlier_positive(batch, record, vocab):
    _record_case(batch, _with(immunoassay=[("fentanyl", POS), ("bromazolam", NEG)]), record, vocab)
    record(batch, "immunoassay", [finding(vocab["fentanyl"], NEG)])
    assert services.assess_release(batch).codes == ["harmful_detected"]


@pytest.mark.django_db
def test_two_person_rule_refuses_an_officer_who_entered_a_check(batch, record, vocab, dana, root):
    _record_case(batch, CLEAN, record, vocab)
    record(batch, "ftir", [finding(vocab["heroin"], DET)], by=root)
    assert services.assess_release(batch, by=root).codes == ["checker_cannot_release"]
    with pytest.raises(ServiceError) as exc:
        services.batch_release(batch=batch, by=root, reason="All clear")
    assert exc.value.code == "release_blocked" and "two-person" in exc.value.message_text
    services.batch_release(batch=batch, by=dana, reason="All clear")
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.RELEASED


@pytest.mark.django_db
def test_programme_admins_can_tighten_the_rule(batch, record, vocab, pat):
    _record_case(batch, CLEAN, record, vocab)
    xylazine_strip = MethodCapability.objects.get(method="immunoassay", drug_class="xylazine")
    services.method_capability_set(capability=xylazine_strip, can_rule_out=True, required=True, note="Strips in stock", by=pat)
    assert services.assess_release(batch).codes == ["strip_missing"]
    ms_nitazene = MethodCapability.objects.get(method="mass_spec", drug_class="nitazene")
    services.method_capability_set(capability=ms_nitazene, can_rule_out=False, required=False, note="", by=pat)
    assert sorted(services.assess_release(batch).codes) == ["class_not_ruled_out", "strip_missing"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "drug_class", "can_rule_out", "required"),
    [("ftir", "fentanyl", True, False), ("ftir", "nitazene", True, False), ("ftir", "benzodiazepine", True, False),
     ("immunoassay", "fentanyl", True, False), ("immunoassay", "benzodiazepine", False, False)],
)
def test_the_floor_of_the_rule_cannot_be_loosened(method, drug_class, can_rule_out, required, pat):
    row = MethodCapability.objects.get(method=method, drug_class=drug_class)
    before = (row.can_rule_out, row.required)
    with pytest.raises(ServiceError) as exc:
        services.method_capability_set(capability=row, can_rule_out=can_rule_out, required=required, note="", by=pat)
    assert exc.value.code == "rule_floor"
    row.refresh_from_db()
    assert (row.can_rule_out, row.required) == before


@pytest.mark.django_db
def test_even_a_loosened_table_does_not_let_ftir_rule_out_fentanyl(batch, record, vocab):
    # Written around the service (as a raw script could): the code floor still holds.
    MethodCapability.objects.filter(method="immunoassay", drug_class="fentanyl").update(required=False)
    _record_case(batch, {"ftir": [("heroin", DET), ("fentanyl", ND)], "mass_spec": [("heroin", DET), ("isotonitazene", ND)],
                         "immunoassay": [("bromazolam", NEG)]}, record, vocab)
    assert sorted(services.assess_release(batch).codes) == ["class_not_ruled_out", "strip_missing"]


@pytest.mark.django_db
def test_the_database_refuses_ftir_ruling_out_fentanyl():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        MethodCapability.objects.filter(method="ftir", drug_class="fentanyl").update(can_rule_out=True)


@pytest.mark.django_db
def test_only_release_officers_change_batch_status(batch, record, vocab, erin, alice):
    _record_case(batch, CLEAN, record, vocab)
    for user in (erin, alice):
        with pytest.raises(ServiceError) as exc:
            services.batch_release(batch=batch, by=user, reason="ok")
        assert exc.value.code == "not_permitted"


@pytest.mark.django_db
def test_a_compound_found_is_not_also_said_not_ruled_out(batch, record, vocab):
    """Only strips saw fentanyl, and positive: "found", never then "nothing has ruled out"."""
    _record_case(batch, _with(mass_spec=[("heroin", DET), ("bromazolam", ND), ("isotonitazene", ND)],
                              immunoassay=[("fentanyl", POS), ("bromazolam", NEG)]), record, vocab)
    assessment = services.assess_release(batch)
    assert assessment.codes == ["harmful_detected"]
    assert "Fentanyl was found" in assessment.blockers[0].message
