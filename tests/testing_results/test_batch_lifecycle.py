"""Receiving, checks, status transitions, and what the ledger does with them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services as ledger
from distributions.models import LedgerEntry
from testing_results import services
from testing_results.models import Batch, BatchStatusChange, DrugCheck, Finding
from tests import factories as f
from tests.builders import transfer
from tests.testing_results.conftest import finding

S = Batch.Status


def receive(substance, by, grams="250.000", received_on=None):
    return services.batch_receive(
        substance=substance, grams=grams, received_on=received_on or timezone.localdate(), by=by
    )


@pytest.mark.django_db
def test_receiving_quarantines_the_batch_codes_it_and_writes_the_intake_entry(heroin, erin):
    batch = receive(heroin, erin)
    year = timezone.localdate().year
    assert batch.code == f"HER-{year}-0001" and batch.status == S.QUARANTINED
    assert receive(heroin, erin).code == f"HER-{year}-0002"
    intake = LedgerEntry.objects.get(batch=batch, kind=LedgerEntry.Kind.INTAKE)
    assert intake.grams == Decimal("250.000") and intake.to_account.kind == "central"
    assert AuditRecord.objects.filter(action="batch.received", target_id=str(batch.pk)).exists()


@pytest.mark.django_db
def test_batch_codes_follow_the_substance_and_the_year(vocab, erin):
    meth = f.SubstanceFactory(name="Méthamphétamine", expected_compound=vocab["heroin"])
    batch = receive(meth, erin, received_on=dt.date(2025, 12, 30))
    assert batch.code == "MET-2025-0001"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"grams": "0"}, "grams_not_positive"),
        ({"grams": "-3"}, "grams_not_positive"),
        ({"grams": "abc"}, "grams_invalid"),
        ({"grams": "1.0005"}, "grams_invalid"),
        ({"received_on": timezone.localdate() + dt.timedelta(days=2)}, "received_in_future"),
    ],
)
def test_receiving_refuses_bad_input_and_stores_nothing(heroin, erin, kwargs, code):
    with pytest.raises(ServiceError) as exc:
        receive(heroin, erin, **kwargs)
    assert exc.value.code == code
    assert not Batch.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_only_drug_checkers_receive_batches(heroin, alice):
    with pytest.raises(ServiceError) as exc:
        receive(heroin, alice)
    assert exc.value.code == "not_permitted"


@pytest.mark.django_db
def test_a_check_consumes_its_sample_through_the_ledger(heroin, erin, record, vocab):
    batch = receive(heroin, erin)
    check = record(batch, "ftir", [finding(vocab["heroin"], "detected")], sample_mg="5.000")
    sample = LedgerEntry.objects.get(batch=batch, kind=LedgerEntry.Kind.SAMPLE)
    assert sample.grams == Decimal("0.005") and check.sample_mg == Decimal("5.000")
    record(batch, "ftir", [finding(vocab["caffeine"], "detected")], sample_mg="0")
    assert LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.SAMPLE).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "findings", "code"),
    [
        ("gc_ms", [("heroin", "detected")], "bad_method"),
        ("ftir", [], "no_findings"),
        ("ftir", [("heroin", "positive")], "bad_finding_result"),
        ("mass_spec", [("fentanyl", "negative")], "bad_finding_result"),
        ("immunoassay", [("fentanyl", "not_detected")], "bad_finding_result"),
        ("immunoassay", [("fentanyl", "maybe")], "bad_finding_result"),
        ("ftir", [("heroin", "detected"), ("heroin", "not_detected")], "duplicate_finding"),
        ("mass_spec", [("heroin", "detected", "101")], "bad_concentration"),
        ("mass_spec", [("heroin", "not_detected", "3")], "bad_concentration"),
        ("immunoassay", [("fentanyl", "positive", "3")], "bad_concentration"),
    ],
)
def test_check_record_refuses_a_bad_finding_for_the_method(batch, record, vocab, method, findings, code):
    with pytest.raises(ServiceError) as exc:
        record(batch, method, [finding(vocab[k], r, *p) for k, r, *p in findings])
    assert exc.value.code == code
    assert not DrugCheck.objects.exists() and not Finding.objects.exists()


@pytest.mark.django_db
def test_check_record_refuses_other_bad_input(batch, record, vocab):
    ok = [finding(vocab["heroin"], "detected")]
    for kwargs, code in [
        ({"sample_mg": "-1"}, "sample_negative"),
        ({"performed_at": timezone.now() + dt.timedelta(hours=2)}, "performed_in_future"),
        ({"performed_at": timezone.now() - dt.timedelta(days=800)}, "performed_before_receipt"),
    ]:
        with pytest.raises(ServiceError) as exc:
            record(batch, "ftir", ok, **kwargs)
        assert exc.value.code == code
    with pytest.raises(ServiceError) as exc:
        record(batch, "ftir", [{"compound": "Heroin", "result": "detected"}])
    assert exc.value.code == "bad_compound"
    assert not DrugCheck.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.REJECTED, S.RECALLED])
def test_no_check_is_added_to_a_closed_batch(heroin, record, vocab, status):
    batch = f.BatchFactory(substance=heroin, status=status)
    with pytest.raises(ServiceError) as exc:
        record(batch, "ftir", [finding(vocab["heroin"], "detected")])
    assert exc.value.code == "batch_closed"


# action -> statuses from which it is legal
LEGAL = {
    "release": {S.QUARANTINED, S.ON_HOLD},
    "reject": {S.QUARANTINED},
    "hold": {S.RELEASED},
    "recall": {S.RELEASED, S.ON_HOLD},
}
ILLEGAL = [(action, status) for action, legal in LEGAL.items() for status in S.values if status not in legal]


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "status"), ILLEGAL, ids=[f"{a}-from-{s}" for a, s in ILLEGAL])
def test_every_illegal_transition_is_refused(heroin, clean_checks, dana, action, status):
    batch = f.BatchFactory(substance=heroin, status=S.QUARANTINED)
    clean_checks(batch)
    Batch.objects.filter(pk=batch.pk).update(status=status)
    batch.refresh_from_db()
    with pytest.raises(ServiceError) as exc:
        getattr(services, f"batch_{action}")(batch=batch, by=dana, reason="Because")
    assert exc.value.code == "illegal_transition"
    assert Batch.objects.get(pk=batch.pk).status == status
    assert not BatchStatusChange.objects.filter(batch=batch).exists()


@pytest.mark.django_db
def test_a_batch_goes_through_every_legal_transition_with_its_history(batch, clean_checks, dana):
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks agree")
    services.batch_hold(batch=batch, by=dana, reason="Community report of heavy sedation")
    services.batch_release(batch=batch, by=dana, reason="Re-reviewed, nothing found")
    services.batch_recall(batch=batch, by=dana, reason="Lab re-test found xylazine")
    history = list(BatchStatusChange.objects.filter(batch=batch).order_by("id").values_list("from_status", "to_status"))
    assert history == [("quarantined", "released"), ("released", "on_hold"), ("on_hold", "released"), ("released", "recalled")]
    assert batch.status == S.RECALLED
    actions = list(AuditRecord.objects.filter(target_id=str(batch.pk), action__startswith="batch.").order_by("seq").values_list("action", flat=True))
    assert actions == ["batch.released", "batch.held", "batch.released", "batch.recalled"]


@pytest.mark.django_db
def test_a_reason_is_required(batch, clean_checks, dana):
    clean_checks(batch)
    with pytest.raises(ServiceError) as exc:
        services.batch_release(batch=batch, by=dana, reason="   ")
    assert exc.value.code == "reason_required"


@pytest.mark.django_db
def test_reject_needs_no_clean_checks(batch, dana):
    services.batch_reject(batch=batch, by=dana, reason="Supplier could not document origin")
    assert Batch.objects.get(pk=batch.pk).status == S.REJECTED


@pytest.mark.django_db
def test_release_writes_the_label(batch, clean_checks, dana):
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks agree")
    label = Batch.objects.get(pk=batch.pk).label_text
    assert label.splitlines() == [
        "Batch HER-2026-0900: Heroin",
        "Measured purity: Heroin (diacetylmorphine) 62.4 % (mass spectrometry)",
        "Also found: Caffeine 21 %",
        # "Not detected" in numbers: the strip lots' cut-offs; no limit is recorded for the lab.
        "No fentanyl or its analogues found by: immunoassay test strip, below 20 ng/mL; mass spectrometry (limit not recorded)",
        "No benzodiazepines found by: immunoassay test strip, below 20 ng/mL; mass spectrometry (limit not recorded)",
    ]


@pytest.mark.django_db
def test_a_new_harmful_finding_on_a_released_batch_holds_it_at_once(batch, clean_checks, record, vocab, dana):
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks agree")
    record(batch, "mass_spec", [finding(vocab["xylazine"], "detected", "2.5")])
    batch.refresh_from_db()
    assert batch.status == S.ON_HOLD
    with pytest.raises(ServiceError) as exc:
        services.batch_release(batch=batch, by=dana, reason="again")
    assert exc.value.code == "release_blocked"


@pytest.fixture
def stocked(heroin, erin, dana, pat, alice, group_a, clean_checks):
    """A released heroin batch with 50 g in VANDU's store and one active VANDU member."""
    batch = receive(heroin, erin)
    clean_checks(batch)
    services.batch_release(batch=batch, by=dana, reason="All checks agree")
    transfer(batch=batch, to_group=group_a, grams=Decimal("50.000"), by=pat, idempotency_key="t1")
    member = f.MemberFactory(group=group_a)
    return batch, member


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "code"), [("recall", "batch_recalled"), ("hold", "batch_on_hold")])
def test_a_recalled_or_held_batch_cannot_be_distributed(stocked, alice, dana, action, code):
    batch, member = stocked
    ledger.distribution_record(member=member, batch=batch, grams=Decimal("3.500"), by=alice, idempotency_key="d1")
    getattr(services, f"batch_{action}")(batch=batch, by=dana, reason="Drug alert")
    with pytest.raises(ServiceError) as exc:
        ledger.distribution_record(member=member, batch=batch, grams=Decimal("1.000"), by=alice, idempotency_key="d2")
    assert exc.value.code == code
    assert LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.DISTRIBUTION).count() == 1


@pytest.mark.django_db
def test_a_recalled_batch_page_lists_who_received_it_scoped_to_the_coordinator(
    client, stocked, alice, bob, charlie, dana, pat, group_b
):
    from django.urls import reverse

    from members.codes import format_code

    batch, member_a = stocked
    transfer(batch=batch, to_group=group_b, grams=Decimal("20.000"), by=pat, idempotency_key="t2")
    member_b = f.MemberFactory(group=group_b)
    ledger.distribution_record(member=member_a, batch=batch, grams=Decimal("3.500"), by=alice, idempotency_key="a1")
    ledger.distribution_record(member=member_b, batch=batch, grams=Decimal("2.000"), by=bob, idempotency_key="b1")
    services.batch_recall(batch=batch, by=dana, reason="Lab re-test found xylazine")
    url = reverse("admin:testing_results_batch_change", args=[batch.pk])

    client.force_login(charlie)  # the auditor sees every group
    page = client.get(url).content.decode()
    assert format_code(member_a.code) in page and format_code(member_b.code) in page
    assert "3.500 g" in page and "2.000 g" in page and "SOLID" in page

    client.force_login(alice)
    page = client.get(url).content.decode()
    assert format_code(member_a.code) in page and format_code(member_b.code) not in page
    assert "(your groups only)" in page and "Stock of this batch" not in page

    client.force_login(dana)  # a release officer sees where the stock is
    page = client.get(url).content.decode()
    assert "Stock of this batch" in page and "VANDU" in page
