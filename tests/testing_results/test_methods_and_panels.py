"""Methods as data: the seeded three and their floor, methods a programme admin adds (which
rule nothing out until granted), results valid per method, and the check form's panels."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import DrugCheck, Finding, Method, MethodCapability
from testing_results.rules import Capabilities
from tests import factories as f
from tests.testing_results.conftest import finding
from tests.testing_results.test_release_rule import CLEAN, _record_case


def _hplc(pat, **kw):
    fields = {"code": "hplc", "name": "HPLC", "kind": "spectrum", "quantifies": True, "required": False, **kw}
    return services.method_save(method=Method(**fields), by=pat)


@pytest.mark.django_db
def test_the_three_methods_are_seeded_with_their_kind():
    rows = {m.code: (m.kind, m.quantifies, m.required) for m in Method.objects.all()}
    assert rows == {
        "ftir": ("spectrum", False, True), "mass_spec": ("spectrum", True, True), "immunoassay": ("strip", False, True),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("code", "change", "error"), [
    ("ftir", {"kind": "strip"}, "rule_floor"),
    ("ftir", {"quantifies": True}, "rule_floor"),
    ("mass_spec", {"required": False}, "rule_floor"),
    ("immunoassay", {"kind": "spectrum"}, "rule_floor"),
    ("immunoassay", {"quantifies": True}, "strip_quantifies"),
])
def test_the_seeded_methods_keep_their_floor(code, change, error, pat):
    method = Method.objects.get(code=code)
    for key, value in change.items():
        setattr(method, key, value)
    with pytest.raises(ServiceError) as exc:
        services.method_save(method=method, by=pat)
    assert exc.value.code == error and exc.value.message_text
    assert Method.objects.filter(code=code, **change).count() == 0


@pytest.mark.django_db
def test_a_new_method_rules_nothing_out_until_granted(batch, record, vocab, pat, erin):
    hplc = _hplc(pat)
    assert AuditRecord.objects.filter(action="method.added").exists()
    caps = MethodCapability.objects.filter(method=hplc)
    assert caps.count() == len(vocab["fentanyl"].DrugClass.values) and not caps.filter(can_rule_out=True).exists()
    # HPLC instead of mass spectrometry for the nitazenes: not trusted until granted.
    _record_case(batch, {**CLEAN, "mass_spec": [("heroin", "detected", "60"), ("bromazolam", "not_detected")]}, record, vocab)
    record(batch, "hplc", [finding(vocab["isotonitazene"], "not_detected")])
    assert services.assess_release(batch).codes == ["class_not_ruled_out"]
    services.method_capability_set(capability=caps.get(drug_class="nitazene"), can_rule_out=True, required=False, note="", by=pat)
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
def test_no_data_lets_ftir_rule_out_the_potent_classes():
    rows = [("ftir", c, True, False) for c in ("fentanyl", "nitazene", "benzodiazepine")]
    caps = Capabilities.from_rows(rows)
    assert not any(caps.rules_out("ftir", c) for c in ("fentanyl", "nitazene", "benzodiazepine"))
    assert set(caps.required_methods) == {"ftir", "mass_spec", "immunoassay"}


@pytest.mark.django_db
def test_a_new_required_method_blocks_release_until_it_has_a_check(batch, clean_checks, record, vocab, pat):
    _hplc(pat, required=True)
    clean_checks(batch)
    assert services.assess_release(batch).codes == ["method_missing"]
    record(batch, "hplc", [finding(vocab["heroin"], "detected", "58")])
    assert services.assess_release(batch).releasable


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "rows", "code"), [
    ("immunoassay", [("fentanyl", "not_detected")], "bad_finding_result"),
    ("immunoassay", [("fentanyl", "positive", "2")], "bad_concentration"),
    ("ftir", [("heroin", "detected", "55")], "bad_concentration"),
    ("ftir", [("heroin", "negative")], "bad_finding_result"),
    ("mass_spec", [("fentanyl", "not_detected", "0.5")], "bad_concentration"),
    ("nmr", [("heroin", "detected")], "bad_method"),
])
def test_results_are_valid_for_their_method_only(method, rows, code, batch, vocab, erin):
    kwargs = {"strip_lot": f.StripLotFactory()} if method == "immunoassay" else {}
    if method in ("ftir", "mass_spec"):
        kwargs = {"instrument": f.InstrumentFactory(method=method)}
    with pytest.raises(ServiceError) as exc:
        services.check_record(batch=batch, method=method, by=erin, sample_mg=0,
                              findings=[finding(vocab[k], r, *p) for k, r, *p in rows], **kwargs)
    assert exc.value.code == code and exc.value.message_text
    assert not DrugCheck.objects.exists() and not Finding.objects.exists()


@pytest.mark.django_db
def test_a_method_code_cannot_change_and_duplicates_are_refused(pat):
    hplc = _hplc(pat)
    hplc.code = "hplc2"
    with pytest.raises(ServiceError) as exc:
        services.method_save(method=hplc, by=pat)
    assert exc.value.code == "method_code_fixed"
    with pytest.raises(ServiceError) as exc:
        _hplc(pat)
    assert exc.value.code == "method_exists"
    assert Method.objects.filter(code__startswith="hplc").count() == 1


# The check form ---------------------------------------------------------------------------

def _rows(page: str) -> list[tuple[str, str]]:
    """(selected compound, result options) per findings row of the page."""
    rows = []
    for i in range(int(re.search(r'name="findings-TOTAL_FORMS" value="(\d+)"', page).group(1))):
        select = re.search(rf'<select name="findings-{i}-compound".*?</select>', page, re.S).group(0)
        chosen = re.search(r'<option value="[^"]*" selected>([^<]*)</option>', select)
        results = re.search(rf'<select name="findings-{i}-result".*?</select>', page, re.S).group(0)
        rows.append((chosen.group(1) if chosen else "", ",".join(re.findall(r'<option value="(\w+)"', results))))
    return rows


@pytest.fixture
def panels(vocab):
    Method.objects.get(code="mass_spec").panel.set([vocab[k] for k in ("heroin", "fentanyl", "bromazolam", "isotonitazene")])
    Method.objects.get(code="immunoassay").panel.set([vocab["fentanyl"], vocab["bromazolam"]])


@pytest.mark.django_db
def test_the_check_form_starts_with_the_panel_and_offers_the_methods_results(client, batch, erin, panels, vocab):
    client.force_login(erin)
    lot = f.StripLotFactory(drug_class="benzodiazepine")
    f.InstrumentFactory(method="mass_spec")
    base = reverse("admin:testing_results_batch_check", args=[batch.pk])
    picker = client.get(base).content.decode()
    assert "?method=mass_spec" in picker and f"strip_lot={lot.pk}" in picker and "benzodiazepines" in picker

    page = client.get(f"{base}?method=mass_spec").content.decode()
    assert _rows(page) == [("Bromazolam", "detected,not_detected"), ("Fentanyl", "detected,not_detected"),
                           ("Heroin (diacetylmorphine)", "detected,not_detected"), ("Isotonitazene", "detected,not_detected"),
                           ("---------", "detected,not_detected"), ("---------", "detected,not_detected")]
    assert "Concentration (%)" in page

    strip = client.get(f"{base}?method=immunoassay&strip_lot={lot.pk}").content.decode()
    assert _rows(strip) == [("Bromazolam", "positive,negative,invalid"), ("---------", "positive,negative,invalid"),
                            ("---------", "positive,negative,invalid")]
    assert "Concentration (%)" not in strip


@pytest.mark.django_db
def test_add_a_row_shows_one_more_row_keeps_what_was_typed_and_stores_nothing(client, batch, erin, panels, vocab):
    client.force_login(erin)
    instrument = f.InstrumentFactory(method="mass_spec")
    url = f"{reverse('admin:testing_results_batch_check', args=[batch.pk])}?method=mass_spec"
    data = {
        "performed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "instrument": instrument.pk, "lab": "Lab",
        "sample_mg": "0", "findings-TOTAL_FORMS": "6", "findings-INITIAL_FORMS": "0",
        "findings-MIN_NUM_FORMS": "0", "findings-MAX_NUM_FORMS": "60",
        "findings-0-compound": vocab["heroin"].pk, "findings-0-result": "detected", "findings-0-concentration_pct": "61",
        "findings-4-compound": vocab["caffeine"].pk, "findings-4-result": "detected",
    }
    page = client.post(url, {**data, "add_row": "1"}).content.decode()
    assert len(_rows(page)) == 7 and "errornote" not in page and "errorlist" not in page
    assert 'value="61' in page and not DrugCheck.objects.exists()
    response = client.post(url, {**data, "findings-TOTAL_FORMS": "7"})
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>(.*?)</ul>', response.content.decode())
    check = DrugCheck.objects.get()
    assert sorted((x.compound.name, x.result) for x in check.findings.all()) == [
        ("Caffeine", "detected"), ("Heroin (diacetylmorphine)", "detected"),
    ]


@pytest.mark.django_db
def test_a_programme_admin_adds_a_method_in_the_admin(client, pat, vocab):
    client.force_login(pat)
    response = client.post(reverse("admin:testing_results_method_add"), {
        "code": "raman", "name": "Raman spectroscopy", "kind": "spectrum", "panel": [vocab["heroin"].pk],
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    raman = Method.objects.get(code="raman")
    assert list(raman.panel.all()) == [vocab["heroin"]] and not raman.quantifies
    assert not MethodCapability.objects.filter(method=raman, can_rule_out=True).exists()
    response = client.post(reverse("admin:testing_results_method_change", args=[Method.objects.get(code="ftir").pk]), {
        "name": "FTIR spectrometry", "kind": "spectrum", "quantifies": "on", "required": "on",
    })
    assert response.status_code == 200 and "cannot be changed" in response.content.decode()
    assert not Method.objects.get(code="ftir").quantifies


@pytest.mark.django_db
def test_an_instrument_for_a_new_method_is_checked_against_it(batch, vocab, erin, pat):
    _hplc(pat)
    instrument = f.InstrumentFactory(method="hplc", verified_until=timezone.localdate() + dt.timedelta(days=5))
    with pytest.raises(ServiceError) as exc:
        services.check_record(batch=batch, method="mass_spec", by=erin, sample_mg=0, instrument=instrument,
                              findings=[finding(vocab["heroin"], "detected")])
    assert exc.value.code == "instrument_wrong_method"
    check = services.check_record(batch=batch, method="hplc", by=erin, sample_mg=0, instrument=instrument,
                                  findings=[finding(vocab["heroin"], "detected", "40")])
    assert check.method_id == "hplc" and check.findings.get().concentration_pct == 40
