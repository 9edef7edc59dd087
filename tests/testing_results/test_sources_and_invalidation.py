"""Instruments, strip lots, invalidation and retests: the new blockers singly and combined with
the old ones, the refusals of bad input, and the hold when a release's evidence is withdrawn."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import Batch, DrugCheck, Instrument, StripLot
from tests import factories as f
from tests.testing_results.conftest import finding
from tests.testing_results.test_release_rule import CLEAN, NEG, _record_case, _with

TODAY = dt.date(2026, 6, 1)


def _instrument(method, **kw):
    return Instrument.objects.create(
        method_id=method, make_model=kw.pop("make_model", "Bruker Alpha II" if method == "ftir" else "Agilent 6546"),
        serial=kw.pop("serial", f"SN-{method}"), verified_until=kw.pop("verified_until", timezone.localdate() + dt.timedelta(days=90)),
        **kw,
    )


def _lot(drug_class="fentanyl", **kw):
    return StripLot.objects.create(
        maker="BTNX", lot_number=kw.pop("lot_number", f"L-{drug_class}"), drug_class=drug_class,
        cutoff_ng_ml=Decimal("20"), expires_on=kw.pop("expires_on", timezone.localdate() + dt.timedelta(days=90)), **kw,
    )


def _age(check: DrugCheck, days: int) -> None:
    """Move the validity of what produced ``check`` to ``days`` before it ran."""
    day = timezone.localtime(check.performed_at).date() - dt.timedelta(days=days)
    if check.strip_lot_id:
        StripLot.objects.filter(pk=check.strip_lot_id).update(expires_on=day)
    else:
        Instrument.objects.filter(pk=check.instrument_id).update(verified_until=day)


@pytest.fixture
def sourced(batch, record, vocab):
    """The clean checks, each strip class on its own lot and each spectrum on its instrument;
    returns the checks by method (strips by class)."""
    instruments = {m: _instrument(m) for m in ("ftir", "mass_spec")}
    made = {}
    for method, findings in CLEAN.items():
        if method == "immunoassay":
            for key, result in findings:
                compound = vocab[key]
                made[compound.drug_class] = record(
                    batch, method, [finding(compound, result)], strip_lot=_lot(compound.drug_class)
                )
        else:
            made[method] = record(
                batch, method, [finding(vocab[k], r, *p) for k, r, *p in findings], instrument=instruments[method]
            )
    return made


SOURCE_CASES = [
    ("fentanyl lot expired", {"fentanyl": 1}, ["strip_lot_expired"]),
    ("both lots expired", {"fentanyl": 1, "benzodiazepine": 30}, ["strip_lot_expired", "strip_lot_expired"]),
    ("FTIR not verified", {"ftir": 1}, ["instrument_not_verified"]),
    ("MS not verified and a lot expired", {"mass_spec": 2, "fentanyl": 1}, ["instrument_not_verified", "strip_lot_expired"]),
    ("valid the day it ran", {"ftir": 0, "fentanyl": 0}, []),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "aged", "codes"), SOURCE_CASES, ids=[c[0] for c in SOURCE_CASES])
def test_results_outside_their_validity_block_release(name, aged, codes, sourced, batch):
    for key, days in aged.items():
        if days:
            _age(sourced[key], days)
    assessment = services.assess_release(batch)
    assert sorted(assessment.codes) == sorted(codes)
    assert all(b.message and "_" not in b.message.split()[0] for b in assessment.blockers)


@pytest.mark.django_db
def test_new_blockers_combine_with_the_old_ones(sourced, batch, record, vocab, dana):
    _age(sourced["fentanyl"], 3)
    services.check_invalidate(drug_check=sourced["benzodiazepine"], reason="transcription_error", by=dana)
    assert sorted(services.assess_release(batch).codes) == ["strip_lot_expired", "strip_missing"]
    assert sorted(services.assess_release(batch, by=sourced["ftir"].performed_by).codes) == [
        "checker_cannot_release", "strip_lot_expired", "strip_missing",
    ]


@pytest.mark.django_db
def test_unrecorded_stand_ins_cover_only_checks_made_before_them(sourced, batch):
    stand_in = Instrument.objects.get(serial="unrecorded-ftir")  # the data migration's
    assert stand_in.unrecorded_before < sourced["ftir"].performed_at
    DrugCheck.objects.filter(pk=sourced["ftir"].pk).update(instrument=stand_in)
    assert services.assess_release(batch).codes == ["source_unrecorded"]
    Instrument.objects.filter(pk=stand_in.pk).update(unrecorded_before=timezone.now() + dt.timedelta(days=1))
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "source", "code"), [
    ("ftir", lambda: {"instrument": _instrument("mass_spec")}, "instrument_wrong_method"),
    ("ftir", lambda: {"instrument": _instrument("ftir", verified_until=timezone.localdate() - dt.timedelta(days=1))},
     "instrument_not_verified"),
    ("ftir", lambda: {"strip_lot": _lot()}, "strip_lot_for_instrument_method"),
    ("immunoassay", lambda: {"strip_lot": _lot(expires_on=timezone.localdate() - dt.timedelta(days=1))}, "strip_lot_expired"),
    ("immunoassay", lambda: {"strip_lot": _lot("benzodiazepine")}, "strip_lot_wrong_class"),
    ("immunoassay", lambda: {"instrument": _instrument("ftir")}, "instrument_for_strip"),
    ("immunoassay", lambda: {"strip_lot": StripLot.objects.get(lot_number="unrecorded")}, "source_unrecorded"),
])
def test_a_check_naming_the_wrong_source_is_refused(method, source, code, batch, record, vocab):
    result = "negative" if method == "immunoassay" else "not_detected"
    with pytest.raises(ServiceError) as exc:
        record(batch, method, [finding(vocab["fentanyl"], result)], **source())
    assert exc.value.code == code and exc.value.message_text
    assert not DrugCheck.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "result", "code"), [
    ("ftir", "not_detected", "instrument_required"),
    ("mass_spec", "not_detected", "instrument_required"),
    ("immunoassay", "negative", "strip_lot_required"),
])
def test_a_new_check_naming_neither_instrument_nor_lot_is_refused(method, result, code, batch, vocab, erin):
    with pytest.raises(ServiceError) as exc:
        services.check_record(batch=batch, method=method, findings=[finding(vocab["fentanyl"], result)], by=erin, sample_mg=0)
    assert exc.value.code == code and exc.value.message_text
    assert not DrugCheck.objects.exists()


@pytest.mark.django_db
def test_a_lot_used_on_the_evening_of_its_last_day_is_in_date(heroin, vocab, erin):
    # 20:00 in Vancouver is already the next day in UTC; the lot's last day is Vancouver's.
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    batch = f.BatchFactory(substance=heroin, received_on=yesterday - dt.timedelta(days=2))
    evening = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(20, 0)))
    assert evening.astimezone(dt.UTC).date() > yesterday
    lot = _lot(expires_on=yesterday)
    services.check_record(batch=batch, method="immunoassay", findings=[finding(vocab["fentanyl"], NEG)], by=erin,
                          sample_mg=0, performed_at=evening, strip_lot=lot)
    assert "strip_lot_expired" not in services.assess_release(batch).codes


@pytest.mark.django_db
def test_invalidated_check_is_ignored_and_a_retest_links_to_it(sourced, batch, record, vocab, dana):
    services.check_invalidate(drug_check=sourced["fentanyl"], reason="contaminated_sample", by=dana)
    assert services.assess_release(batch).codes == ["strip_missing"]
    lot = StripLot.objects.get(drug_class="fentanyl")
    retest = record(batch, "immunoassay", [finding(vocab["fentanyl"], NEG)], strip_lot=lot, replaces=sourced["fentanyl"])
    assert retest.replaces_id == sourced["fentanyl"].pk
    assert list(sourced["fentanyl"].retests.all()) == [retest]
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
def test_an_invalidated_positive_no_longer_blocks(batch, record, vocab, dana):
    _record_case(batch, _with(mass_spec=[("heroin", "detected", "60"), ("fentanyl", "detected", "1"),
                                         ("bromazolam", "not_detected"), ("isotonitazene", "not_detected")]), record, vocab)
    wrong = DrugCheck.objects.get(method="mass_spec")
    assert services.assess_release(batch).codes == ["harmful_detected"]
    services.check_invalidate(drug_check=wrong, reason="transcription_error", by=dana)
    record(batch, "mass_spec", [finding(vocab[k], r, *p) for k, r, *p in CLEAN["mass_spec"]], replaces=wrong)
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
def test_invalidating_the_check_a_release_rested_on_holds_the_batch(sourced, batch, dana, charlie):
    services.batch_release(batch=batch, by=dana, reason="All clear")
    services.check_invalidate(drug_check=sourced["mass_spec"], reason="instrument_fault", by=dana)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.ON_HOLD
    change = batch.status_history.first()
    assert change.to_status == "on_hold" and "invalidated" in change.reason and "instrument fault" in change.reason


@pytest.mark.django_db
def test_the_hold_names_the_invalidated_check_by_its_local_time(sourced, batch, dana):
    # 20:00 in Vancouver is already the next day in UTC: the reason said the UTC date beside
    # the batch page's local times, naming a check that seemed not to exist.
    services.batch_release(batch=batch, by=dana, reason="All clear")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    evening = timezone.make_aware(dt.datetime.combine(yesterday, dt.time(20, 0)))
    DrugCheck.objects.filter(pk=sourced["mass_spec"].pk).update(performed_at=evening)
    sourced["mass_spec"].refresh_from_db()
    services.check_invalidate(drug_check=sourced["mass_spec"], reason="instrument_fault", by=dana)
    reason = batch.status_history.first().reason
    assert f"check of {yesterday:%Y-%m-%d} 20:00 was invalidated" in reason, reason


@pytest.mark.django_db
def test_invalidating_a_check_the_release_did_not_need_keeps_it_released(sourced, batch, record, vocab, dana):
    services.batch_release(batch=batch, by=dana, reason="All clear")
    extra = record(batch, "ftir", [finding(vocab["heroin"], "detected")], instrument=Instrument.objects.get(serial="SN-ftir"))
    services.check_invalidate(drug_check=extra, reason="other", by=dana)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RELEASED


@pytest.mark.django_db
def test_invalidation_refusals(sourced, erin, dana, pat):
    check = sourced["ftir"]
    cases = [
        ({"drug_check": check, "reason": "transcription_error", "by": erin}, "invalidate_own_check"),
        ({"drug_check": check, "reason": "bad luck", "by": dana}, "bad_invalidation_reason"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ServiceError) as exc:
            services.check_invalidate(**kwargs)
        assert exc.value.code == code
    check.refresh_from_db()
    assert check.invalidated_at is None
    services.check_invalidate(drug_check=check, reason="transcription_error", by=dana)
    with pytest.raises(ServiceError) as exc:
        services.check_invalidate(drug_check=DrugCheck.objects.get(pk=check.pk), reason="other", by=dana)
    assert exc.value.code == "already_invalidated"
    check.refresh_from_db()
    assert check.invalidation_reason == "transcription_error" and check.invalidated_by == dana


@pytest.mark.django_db
def test_a_retest_must_be_of_the_same_batch_and_method(sourced, batch, record, vocab):
    with pytest.raises(ServiceError) as exc:
        record(batch, "ftir", [finding(vocab["heroin"], "detected")],
               instrument=Instrument.objects.get(serial="SN-ftir"), replaces=sourced["mass_spec"])
    assert exc.value.code == "retest_mismatch"


@pytest.mark.django_db
def test_invalidating_from_the_batch_page(client, sourced, batch, erin, dana):
    from django.urls import reverse

    services.batch_release(batch=batch, by=dana, reason="All clear")
    change_url = reverse("admin:testing_results_batch_change", args=[batch.pk])
    url = reverse("admin:testing_results_batch_invalidate", args=[batch.pk, sourced["fentanyl"].pk])
    client.force_login(erin)  # entered the check: refused, nothing stored
    response = client.post(url, {"reason": "transcription_error"})
    assert response.status_code == 200 and "another drug checker or release officer" in response.content.decode()
    assert DrugCheck.objects.get(pk=sourced["fentanyl"].pk).invalidated_at is None

    client.force_login(dana)
    assert url in client.get(change_url).content.decode()
    response = client.post(url, {"reason": "expired_lot"})
    assert response.status_code == 302 and response["Location"] == change_url
    page = client.get(change_url).content.decode()
    assert '<s class="tr-invalidated">Fentanyl: below 20 ng/mL</s>' in page and "expired lot" in page
    batch.refresh_from_db()
    assert batch.status == Batch.Status.ON_HOLD
    assert client.post(url, {"reason": "other"}).status_code == 200  # already invalidated: shown, not stored
    assert DrugCheck.objects.get(pk=sourced["fentanyl"].pk).invalidation_reason == "expired_lot"
