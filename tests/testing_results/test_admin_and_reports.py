"""The batch pages in the admin, and the private lab report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from compassionclub.errors import ServiceError
from testing_results import services
from testing_results.models import Batch, DrugCheck, Instrument, MethodCapability, StripLot
from tests import factories as f
from tests.builders import receipt_fields
from tests.pdfs import plain_pdf
from tests.testing_results.conftest import finding

PDF = plain_pdf()


@pytest.fixture(autouse=True)
def private_dir(tmp_path):
    storage = DrugCheck._meta.get_field("lab_report").storage
    saved = dict(storage.__dict__)
    storage.__dict__.update({"location": str(tmp_path), "base_location": str(tmp_path), "_location": str(tmp_path)})
    yield tmp_path
    storage.__dict__.clear()
    storage.__dict__.update(saved)


def pdf(name="report.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def check_url(batch, method, strip_lot=None):
    url = f"{reverse('admin:testing_results_batch_check', args=[batch.pk])}?method={method}"
    return f"{url}&strip_lot={strip_lot}" if strip_lot else url


def check_post(method, rows, **extra):
    data = {
        "method": method, "performed_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "lab": "Bruker Alpha II",
        "sample_mg": "0", "findings-TOTAL_FORMS": "8", "findings-INITIAL_FORMS": "0",
        "findings-MIN_NUM_FORMS": "0", "findings-MAX_NUM_FORMS": "40",
    }
    for i, (compound, result, pct) in enumerate(rows):
        data.update({f"findings-{i}-compound": compound.pk, f"findings-{i}-result": result, f"findings-{i}-concentration_pct": pct})
    data.update(extra)
    return data


@pytest.mark.django_db
def test_a_checker_and_an_officer_take_a_batch_from_receipt_to_release(client, heroin, vocab, erin, dana):
    client.force_login(erin)
    response = client.post(reverse("admin:testing_results_batch_add"), {
        "substance": heroin.pk, "received_grams": "120.000", "received_on": timezone.localdate().isoformat(), "best_before": "",
        **receipt_fields(),
    })
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:testing_results_batch_change", args=[batch.pk])
    v = vocab
    due = timezone.localdate() + dt.timedelta(days=30)
    ftir = Instrument.objects.create(method_id="ftir", make_model="Bruker Alpha II", serial="A2-1", verified_until=due)
    ms = Instrument.objects.create(method_id="mass_spec", make_model="Agilent 6546", serial="Q-7", verified_until=due)
    lots = {cls: StripLot.objects.create(maker="BTNX", lot_number=f"{cls[:3].upper()}-24", drug_class=cls,
                                         cutoff_ng_ml=20, expires_on=due) for cls in ("fentanyl", "benzodiazepine")}
    for method, rows, source in [
        ("ftir", [(v["heroin"], "detected", "")], {"instrument": ftir.pk}),
        ("mass_spec", [(v["heroin"], "detected", "55.5"), (v["fentanyl"], "not_detected", ""), (v["bromazolam"], "not_detected", ""),
                       (v["isotonitazene"], "not_detected", "")], {"instrument": ms.pk}),
        ("immunoassay", [(v["fentanyl"], "negative", "")], {"strip_lot": lots["fentanyl"].pk}),
        ("immunoassay", [(v["bromazolam"], "negative", "")], {"strip_lot": lots["benzodiazepine"].pk}),
    ]:
        response = client.post(check_url(batch, method, source.get("strip_lot")), check_post(method, rows, lab_report=pdf(), **source))
        assert response.status_code == 302, response.content.decode()[:2000]
    assert DrugCheck.objects.filter(batch=batch).exclude(lab_report="").count() == 4
    assert not DrugCheck.objects.filter(instrument__isnull=True, strip_lot__isnull=True).exists()

    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Nothing blocks release" in page and "/release/" in page and "/check/" not in page
    response = client.post(reverse("admin:testing_results_batch_release", args=[batch.pk]), {"reason": "All agree"})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == Batch.Status.RELEASED and "55.5 %" in batch.label_text


@pytest.mark.django_db
def test_the_batch_page_lists_every_blocker(client, batch, record, vocab, dana):
    record(batch, "ftir", [finding(vocab["heroin"], "detected"), finding(vocab["fentanyl"], "not_detected")])
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    expected = services.assess_release(batch, by=dana)
    assert len(expected.blockers) >= 4
    for blocker in expected.blockers:
        assert f'data-code="{blocker.code}"' in page
    assert "Only FTIR reported fentanyl" in page


@pytest.mark.django_db
def test_a_refused_release_comes_back_as_an_error_on_the_page(client, batch, record, vocab, dana):
    record(batch, "ftir", [finding(vocab["heroin"], "detected")])
    client.force_login(dana)
    response = client.post(reverse("admin:testing_results_batch_release", args=[batch.pk]), {"reason": "Please"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "errornote" in content and "cannot be released" in content
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.QUARANTINED


@pytest.mark.django_db
def test_an_illegal_action_and_a_missing_reason_are_shown_not_stored(client, batch, dana):
    client.force_login(dana)
    url = reverse("admin:testing_results_batch_recall", args=[batch.pk])
    response = client.post(url, {"reason": "Drug alert"})
    assert response.status_code == 200 and "only a" in response.content.decode()
    response = client.post(reverse("admin:testing_results_batch_reject", args=[batch.pk]), {"reason": ""})
    assert response.status_code == 200
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.QUARANTINED


@pytest.mark.django_db
def test_a_bad_finding_comes_back_as_an_error_and_stores_nothing(client, batch, vocab, erin):
    client.force_login(erin)
    ftir = Instrument.objects.create(method_id="ftir", make_model="Bruker Alpha II", serial="A2-1",
                                     verified_until=timezone.localdate() + dt.timedelta(days=30))
    # The form offers only FTIR's results; the service refuses the rest too (test_batch_lifecycle).
    response = client.post(check_url(batch, "ftir"), check_post("ftir", [(vocab["fentanyl"], "negative", "")], instrument=ftir.pk))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post(check_url(batch, "ftir"), check_post("ftir", [(vocab["heroin"], "detected", "")], instrument=ftir.pk,
                                                              **{"findings-0-concentration_pct": "50"}))
    assert response.status_code == 302
    assert DrugCheck.objects.get().findings.get().concentration_pct is None  # FTIR gives no concentration


@pytest.mark.django_db
def test_a_refused_check_is_said_once_above_the_form_and_once_at_the_top(client, batch, vocab, erin):
    """The refusal in the page's messages and in the error box above the fields, not a third
    time in a list of the form's own (as Django's as_div would add)."""
    client.force_login(erin)
    ftir = Instrument.objects.create(method_id="ftir", make_model="Bruker Alpha II", serial="A2-1",
                                     verified_until=timezone.localdate() + dt.timedelta(days=30))
    future = (timezone.localtime() + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    data = check_post("ftir", [(vocab["heroin"], "detected", "")], instrument=ftir.pk, performed_at=future)
    content = client.post(check_url(batch, "ftir"), data).content.decode()
    assert content.count("A check cannot have been performed in the future.") == 2
    assert 'class="errornote"' in content and "errorlist nonfield" not in content
    assert not DrugCheck.objects.exists()


@pytest.mark.django_db
def test_the_check_form_wants_the_instrument_or_strip_lot(client, batch, vocab, erin):
    client.force_login(erin)
    response = client.post(check_url(batch, "ftir"), check_post("ftir", [(vocab["heroin"], "detected", "")]))
    assert response.status_code == 200 and "Name the instrument this check ran on." in response.content.decode()
    lot = f.StripLotFactory()
    response = client.post(check_url(batch, "immunoassay", lot.pk), check_post("immunoassay", [(vocab["fentanyl"], "negative", "")]))
    assert response.status_code == 200 and "Name the strip lot this strip came from." in response.content.decode()
    assert not DrugCheck.objects.exists()


@pytest.mark.django_db
def test_coordinators_and_checkers_cannot_change_batch_status(client, batch, alice, erin):
    for user in (alice, erin):
        client.force_login(user)
        response = client.post(reverse("admin:testing_results_batch_reject", args=[batch.pk]), {"reason": "x"})
        assert response.status_code == 403
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.QUARANTINED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (pdf("report.exe", PDF), "report_not_pdf"),
        (pdf("report.pdf", b"MZ\x90\x00 not a pdf"), "report_not_pdf"),
        (pdf("report.pdf", b""), "report_empty"),
        (pdf("report.pdf", PDF + b"0" * services.LAB_REPORT_MAX_BYTES), "report_too_large"),
    ],
)
def test_a_lab_report_must_be_a_pdf_of_a_sane_size(batch, record, vocab, upload, code, private_dir):
    with pytest.raises(ServiceError) as exc:
        record(batch, "ftir", [finding(vocab["heroin"], "detected")], lab_report=upload)
    assert exc.value.code == code
    assert not DrugCheck.objects.exists() and not any(private_dir.rglob("*.pdf"))


@pytest.mark.django_db
def test_a_refused_check_leaves_no_file_behind(heroin, record, vocab, private_dir):
    closed = f.BatchFactory(substance=heroin, status=Batch.Status.REJECTED)
    with pytest.raises(ServiceError):
        record(closed, "ftir", [finding(vocab["heroin"], "detected")], lab_report=pdf())
    assert not any(private_dir.rglob("*.pdf"))


@pytest.mark.django_db
def test_the_lab_report_is_served_only_to_staff_who_may_see_the_batch(client, batch, record, vocab, dana, charlie, alice, erin, private_dir):
    check = record(batch, "ftir", [finding(vocab["heroin"], "detected")], lab_report=pdf("Lab Report (Jan).pdf"))
    stored = private_dir / check.lab_report.name
    assert stored.read_bytes() == PDF and "Jan" not in check.lab_report.name
    assert not str(stored).startswith(str(settings.STATIC_ROOT))
    url = reverse("admin:testing_results_drugcheck_report", args=[check.pk])
    for user, status in [(dana, 200), (charlie, 200), (erin, 200), (alice, 403)]:
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == status, user
        if status == 200:
            assert b"".join(response.streaming_content) == PDF
            assert response["Content-Type"] == "application/pdf" and "no-store" in response["Cache-Control"]
            assert f"{batch.code}-ftir-{check.pk}.pdf" in response["Content-Disposition"]
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


@pytest.mark.django_db
def test_a_report_can_be_attached_once_to_a_check_without_one(batch, record, vocab, erin):
    check = record(batch, "ftir", [finding(vocab["heroin"], "detected")])
    services.check_attach_report(drug_check=check, upload=pdf(), by=erin)
    with pytest.raises(ServiceError) as exc:
        services.check_attach_report(drug_check=check, upload=pdf(), by=erin)
    assert exc.value.code == "report_already_attached"


@pytest.mark.django_db
def test_a_drug_checker_attaches_a_report_in_the_admin_and_a_bad_file_comes_back_as_an_error(
    client, batch, record, vocab, erin, dana, private_dir
):
    check = record(batch, "ftir", [finding(vocab["heroin"], "detected")])
    url = reverse("admin:testing_results_drugcheck_attach_report", args=[check.pk])
    client.force_login(dana)
    assert client.post(url, {"lab_report": pdf()}).status_code == 403  # a release officer records no checks
    client.force_login(erin)
    response = client.post(url, {"lab_report": pdf("report.pdf", b"MZ not a pdf")})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert not DrugCheck.objects.get(pk=check.pk).lab_report
    response = client.post(url, {"lab_report": pdf()})
    assert response.status_code == 302
    stored = DrugCheck.objects.get(pk=check.pk).lab_report
    assert (private_dir / stored.name).read_bytes() == PDF
    response = client.post(url, {"lab_report": pdf()})
    assert "already has" in response.content.decode()


@pytest.mark.django_db
def test_the_watch_list_action_says_how_many_batches_were_held(client, heroin, clean_checks, dana, pat, vocab):
    batch = f.BatchFactory(substance=heroin)
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="ok")
    client.force_login(pat)
    response = client.post(
        reverse("admin:testing_results_compound_changelist"),
        {"action": "put_on_watch_list", "_selected_action": [vocab["medetomidine"].pk]}, follow=True,
    )
    assert "1 released batch put on hold" in response.content.decode()
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.ON_HOLD


@pytest.mark.django_db
def test_programme_admins_cannot_loosen_the_floor_in_the_admin(client, pat):
    row = MethodCapability.objects.get(method="ftir", drug_class="fentanyl")
    client.force_login(pat)
    response = client.post(reverse("admin:testing_results_methodcapability_change", args=[row.pk]),
                           {"can_rule_out": "on", "required": "", "note": "trust me"})
    assert response.status_code == 200 and "FTIR cannot see fentanyl" in response.content.decode()
    row.refresh_from_db()
    assert not row.can_rule_out
    ms = MethodCapability.objects.get(method="mass_spec", drug_class="xylazine")
    response = client.post(reverse("admin:testing_results_methodcapability_change", args=[ms.pk]),
                           {"can_rule_out": "on", "required": "on", "note": "Always look for xylazine"})
    assert response.status_code == 302
    ms.refresh_from_db()
    assert ms.required


@pytest.mark.django_db
def test_batch_pages_use_no_inline_style_or_script(client, batch, dana):
    client.force_login(dana)
    for url in [reverse("admin:testing_results_batch_change", args=[batch.pk]),
                reverse("admin:testing_results_batch_reject", args=[batch.pk])]:
        content = client.get(url).content.decode()
        assert "testing_results/admin.css" in content
        assert " style=" not in content and "<script>" not in content


def test_grams_are_decimal():
    from compassionclub.quantities import MILLIGRAM

    assert isinstance(MILLIGRAM, Decimal)


@pytest.mark.django_db
def test_a_drug_checks_title_carries_the_vancouver_date_not_utcs():
    import datetime as dt
    from zoneinfo import ZoneInfo

    # 20:30 in Vancouver on 3 March is already 4 March in UTC.
    evening = dt.datetime(2026, 3, 3, 20, 30, tzinfo=ZoneInfo("America/Vancouver"))
    check = DrugCheck.objects.get(pk=f.DrugCheckFactory(performed_at=evening).pk)
    assert str(check).endswith("2026-03-03")


@pytest.mark.django_db
def test_a_batch_with_fentanyl_found_says_so_and_offers_reject_not_release(client, batch, record, vocab, dana):
    record(batch, "mass_spec", [finding(vocab["heroin"], "detected", "60"), finding(vocab["fentanyl"], "detected", "1.5")])
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Do not release: fentanyl found" in page
    assert reverse("admin:testing_results_batch_reject", args=[batch.pk]) in page
    assert reverse("admin:testing_results_batch_release", args=[batch.pk]) not in page
    assert "Nothing has ruled out fentanyl" not in page


@pytest.mark.django_db
def test_the_two_person_rule_is_a_note_not_a_red_blocker(client, batch, clean_checks, root):
    clean_checks(batch, by=root)
    client.force_login(root)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "tr-info" in page and 'class="tr-note" data-code="checker_cannot_release"' in page
    assert "tr-blocked" not in page


@pytest.mark.django_db
def test_a_drug_checker_is_told_who_may_release_a_clean_batch(client, batch, clean_checks, erin):
    clean_checks(batch, by=erin)
    client.force_login(erin)  # entered the checks and may not release anyway
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "a release officer who entered none of the checks may release it" in page
    assert "checker_cannot_release" not in page and "tr-blocked" not in page and "you entered none" not in page


def _expire_strips(batch) -> None:
    for check in DrugCheck.objects.filter(batch=batch, method="immunoassay"):
        day = timezone.localtime(check.performed_at).date() - dt.timedelta(days=1)
        StripLot.objects.filter(pk=check.strip_lot_id).update(expires_on=day)


WITHHELD = [
    # (case, how the checks are made, who looks, the codes the rule refuses with)
    ("a method missing", lambda batch, clean, root: clean(batch, skip=("mass_spec",)), "dana", "method_missing"),
    ("a strip lot expired", lambda batch, clean, root: (clean(batch), _expire_strips(batch)), "dana", "strip_lot_expired"),
    ("the officer entered the checks", lambda batch, clean, root: clean(batch, by=root), "root", "checker_cannot_release"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "make", "who", "code"), WITHHELD, ids=[w[0] for w in WITHHELD])
def test_release_is_offered_only_when_the_rule_would_release(client, batch, clean_checks, dana, root, case, make, who, code):
    make(batch, clean_checks, root)
    user = {"dana": dana, "root": root}[who]
    assessment = services.assess_release(batch, by=user)
    assert not assessment.releasable and code in assessment.codes
    client.force_login(user)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    release = reverse("admin:testing_results_batch_release", args=[batch.pk])
    assert release not in page
    assert reverse("admin:testing_results_batch_reject", args=[batch.pk]) in page
    assert 'class="tr-withheld"' in page
    for blocker in assessment.blockers:
        assert f'data-code="{blocker.code}"' in page
    # Typed in by hand, the release page says why and asks for no reason.
    form = client.get(release).content.decode()
    assert 'name="reason"' not in form and 'class="tr-withheld"' in form and "data-code=" in form
    response = client.post(release, {"reason": "Please"})
    assert "errornote" in response.content.decode()
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.QUARANTINED


@pytest.mark.django_db
def test_a_missing_check_says_reject_if_it_cannot_pass(client, batch, clean_checks, dana):
    clean_checks(batch, skip=("mass_spec",))
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Release is not offered until nothing above blocks it. If the batch cannot pass, reject it." in page


@pytest.mark.django_db
def test_a_held_batch_that_no_longer_passes_offers_recall_not_release(client, batch, clean_checks, dana, root):
    checks = clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks passed.")
    services.check_invalidate(drug_check=checks[0], reason="transcription_error", by=root)
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.ON_HOLD
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert reverse("admin:testing_results_batch_release", args=[batch.pk]) not in page
    assert reverse("admin:testing_results_batch_recall", args=[batch.pk]) in page
    assert "If the batch cannot pass, recall it." in page


@pytest.mark.django_db
def test_a_clean_batch_still_offers_release(client, batch, clean_checks, dana):
    clean_checks(batch)
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert reverse("admin:testing_results_batch_release", args=[batch.pk]) in page and "tr-withheld" not in page
    assert 'name="reason"' in client.get(reverse("admin:testing_results_batch_release", args=[batch.pk])).content.decode()


@pytest.mark.django_db
def test_a_held_batch_with_fentanyl_found_says_recall_it_not_reject(client, batch, clean_checks, record, vocab, dana):
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks passed.")
    services.batch_hold(batch=batch, by=dana, reason="Drug alert under review.")
    record(batch, "mass_spec", [finding(vocab["heroin"], "detected", "60"), finding(vocab["fentanyl"], "detected", "1.5")])
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Do not release: fentanyl found" in page and "is never released. Recall it." in page
    assert reverse("admin:testing_results_batch_release", args=[batch.pk]) not in page
    assert reverse("admin:testing_results_batch_recall", args=[batch.pk]) in page
