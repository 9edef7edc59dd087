"""The reference sample: retained at receipt on the ledger's reference account (not distributable,
not store stock), used by retests, destroyed only witnessed and only once the batch is finished."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, LedgerEntry
from distributions.selectors import reference_sample, stock_by_group
from distributions.services.ledger import group_account, system_account
from distributions.verify import verify_ledger
from testing_results import services as testing
from testing_results.models import Batch, ReferenceSamplePolicy
from tests.builders import D, clean_findings, record_checks, released_batch, transfer
from tests.distributions.test_custody_manifests import refused

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def held(batch, kind) -> Decimal:
    return D(Balance.objects.filter(batch=batch, account__kind=kind).values_list("grams", flat=True).first() or 0)


def receive(heroin, by, grams="50"):
    return testing.batch_receive(substance=heroin, grams=D(grams), received_on=timezone.localdate(), by=by)


def destroy_reference(batch, by, witness, grams="1.000", **kw):
    fields = {"reason": LedgerEntry.DestructionReason.REFERENCE_FINISHED, "method": "incineration",
              "witness_password": PASSWORD, **kw}
    return services.destruction_witnessed(
        batch=batch, store=system_account(Account.Kind.REFERENCE), grams=D(grams), by=by, witness=witness, **fields
    )


def test_receipt_retains_one_gram_by_default_on_the_reference_account(heroin, erin):
    batch = receive(heroin, erin)
    assert held(batch, Account.Kind.CENTRAL) == D("49")
    assert held(batch, Account.Kind.REFERENCE) == D("1")
    entry = LedgerEntry.objects.get(batch=batch, kind=LedgerEntry.Kind.REFERENCE)
    assert (entry.from_account.kind, entry.to_account.kind, entry.recorded_by) == ("central", "reference", erin)
    assert AuditRecord.objects.filter(action="stock.reference_retained").exists()
    assert verify_ledger().ok


def test_the_programme_sets_the_grams_and_zero_keeps_none(heroin, erin, pat):
    testing.reference_policy_set(grams="2.5", by=pat)
    assert held(receive(heroin, erin), Account.Kind.REFERENCE) == D("2.5")
    testing.reference_policy_set(grams="0", by=pat)
    batch = receive(heroin, erin)
    assert held(batch, Account.Kind.CENTRAL) == D("50")
    assert not LedgerEntry.objects.filter(batch=batch, kind=LedgerEntry.Kind.REFERENCE).exists()
    assert reference_sample(batch).movements == []


@pytest.mark.parametrize("grams", ["-1", "1001", "0.0001", "one", "NaN"])
def test_a_bad_setting_is_refused_and_nothing_changes(pat, grams):
    refused("reference_grams_invalid", testing.reference_policy_set, grams=grams, by=pat)
    assert ReferenceSamplePolicy.current().grams == D("1")


def test_only_a_programme_admin_sets_it(erin):
    refused("not_permitted", testing.reference_policy_set, grams="2", by=erin)


def test_the_setting_page_saves_through_the_service_and_its_change_page_leads_back(client, pat):
    url = reverse("admin:testing_results_referencesamplepolicy_changelist")
    client.force_login(pat)
    assert b"Reference sample" in client.get(url).content
    response = client.post(url, {"grams": "2.5"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert b"Reference sample setting saved." in response.content
    assert ReferenceSamplePolicy.current().grams == D("2.5")
    assert b"errorlist" in client.post(url, {"grams": "1001"}).content
    assert ReferenceSamplePolicy.current().grams == D("2.5")
    change = reverse("admin:testing_results_referencesamplepolicy_change", args=[ReferenceSamplePolicy.current().pk])
    assert client.get(change)["Location"] == url


def test_a_batch_smaller_than_the_setting_keeps_all_of_it_as_reference(heroin, erin):
    batch = receive(heroin, erin, grams="0.5")
    assert (held(batch, Account.Kind.CENTRAL), held(batch, Account.Kind.REFERENCE)) == (D("0"), D("0.5"))


def test_the_reference_is_not_distributable_nor_store_stock(heroin, erin, dana, pat, group_a):
    batch = released_batch(heroin, checker=erin, officer=dana, grams="20")
    refused("insufficient_stock", services.manifest_send, batch=batch, from_store=system_account(Account.Kind.CENTRAL),
            to_store=group_account(group_a), grams=D("20"), packages=1, by=pat)
    transfer(batch=batch, to_group=group_a, grams=D("19"), by=pat)
    assert [store for store, _grams in stock_by_group(batch, pat)] == ["VANDU"]
    refused("not_a_store", services.manifest_send, batch=batch, from_store=system_account(Account.Kind.REFERENCE),
            to_store=system_account(Account.Kind.CENTRAL), grams=D("1"), packages=1, by=pat)


def test_the_retention_is_never_reversed_into_stock(heroin, erin, pat):
    batch = receive(heroin, erin)
    entry = LedgerEntry.objects.get(batch=batch, kind=LedgerEntry.Kind.REFERENCE)
    refused("reference_entry", services.entry_reverse, entry=entry, reason="entered_by_mistake", by=pat)
    assert held(batch, Account.Kind.REFERENCE) == D("1")


def test_a_retest_takes_its_sample_from_the_reference(heroin, erin, dana):
    batch = receive(heroin, erin)
    findings = clean_findings(heroin)
    (first,) = record_checks(batch=batch, method="ftir", findings=findings["ftir"], by=erin, sample_mg=Decimal("5"))
    assert held(batch, Account.Kind.CENTRAL) == D("48.995")
    testing.check_invalidate(drug_check=first, reason="instrument_fault", by=dana)
    record_checks(batch=batch, method="ftir", findings=findings["ftir"], by=erin, sample_mg=Decimal("5"), replaces=first)
    assert held(batch, Account.Kind.CENTRAL) == D("48.995")
    assert held(batch, Account.Kind.REFERENCE) == D("0.995")
    assert [m.what for m in reference_sample(batch).movements] == ["Retained at receipt", "Used by a retest"]
    assert verify_ledger().ok


def test_destroyed_only_witnessed_and_only_once_the_batch_is_finished(heroin, erin, dana, pat, root):
    batch = receive(heroin, erin)
    refused("reference_batch_not_finished", destroy_reference, batch=batch, by=pat, witness=root)
    testing.batch_reject(batch=batch, by=dana, reason="Fentanyl found.")
    refused("witness_same_person", destroy_reference, batch=batch, by=pat, witness=pat)
    record = destroy_reference(batch, pat, root)
    assert (record.entry.from_account.kind, record.witness) == ("reference", root)
    assert held(batch, Account.Kind.REFERENCE) == D("0")
    ref = reference_sample(batch)
    assert ref.destroyed and ref.movements[-1].witness == "root"
    assert verify_ledger().ok


def test_a_batch_with_no_stock_left_is_finished(heroin, erin, dana, pat, root):
    batch = released_batch(heroin, checker=erin, officer=dana, grams="3")
    refused("reference_batch_not_finished", destroy_reference, batch=batch, by=pat, witness=root)
    services.destruction_witnessed(batch=batch, store=system_account(Account.Kind.CENTRAL), grams=D("2"), by=pat,
                                   witness=root, witness_password=PASSWORD, reason="expired", method="incineration")
    destroy_reference(batch, pat, root)
    assert held(batch, Account.Kind.REFERENCE) == D("0")


def test_the_reference_reason_is_for_the_reference_only(heroin, erin, pat, root):
    batch = receive(heroin, erin)
    refused("reason_invalid", services.destruction_witnessed, batch=batch, store=system_account(Account.Kind.CENTRAL),
            grams=D("1"), by=pat, witness=root, witness_password=PASSWORD, reason="reference_finished", method="incineration")


def test_the_batch_page_and_the_report_show_it(client, heroin, erin, dana):
    batch = receive(heroin, erin)
    client.force_login(dana)
    page = client.get(reverse("admin:testing_results_batch_change", args=[batch.pk])).content.decode()
    assert "Reference sample: 1.000 g held for retests (not distributable, not store stock)" in page
    assert "Retained at receipt" in page
    from distributions.exports.batch_reports import batch_record

    record = batch_record(Batch.objects.get(pk=batch.pk), dana)
    assert record["reference"].retained == D("1") and record["reference"].held == D("1")
    assert record["reconciled"]
    assert {m.label: m.grams for m in record["movements"]}["Retained as the reference sample"] == D("1")


def test_a_drug_checker_may_witness_a_reference_destruction_but_not_a_stores(heroin, erin, dana, pat):
    batch = receive(heroin, erin)
    testing.batch_reject(batch=batch, by=dana, reason="Fentanyl found.")
    refused("witness_not_permitted", services.destruction_witnessed, batch=batch, store=system_account(Account.Kind.CENTRAL),
            grams=D("1"), by=pat, witness=erin, witness_password=PASSWORD, reason="damaged", method="incineration")
    assert destroy_reference(batch, pat, erin).witness == erin


def test_the_destruction_page_offers_the_reference_account_and_drug_checkers(client, pat, erin):
    client.force_login(pat)
    page = client.get(reverse("admin:distributions_witnesseddestruction_add")).content.decode()
    assert "Reference samples (retained)" in page and f'<option value="{erin.pk}">erin</option>' in page


def test_the_dashboard_lists_reference_samples_to_destroy_once_their_batch_is_finished(client, heroin, erin, dana, pat, root):
    kept, finished = receive(heroin, erin), receive(heroin, erin)
    testing.batch_reject(batch=finished, by=dana, reason="Fentanyl found.")
    client.force_login(pat)
    page = client.get(reverse("admin:index")).content.decode()
    section = page[page.index('id="dashboard-references"'):]
    section = section[:section.index("</table>")]
    assert finished.code in section and kept.code not in section
    assert f"batch={finished.pk}&amp;grams=1.000&amp;reason=reference_finished" in section
    destroy_reference(finished, pat, root)
    assert 'id="dashboard-references"' not in client.get(reverse("admin:index")).content.decode()


def test_finished_is_decided_under_the_destructions_locks_not_before(monkeypatch, heroin, erin, dana, pat, root):
    """Stock put back while the witness confirms (a reversal, an adjustment, a cancelled
    manifest) unfinishes the batch: the destruction, deciding inside its transaction, refuses."""
    from distributions.services import custody

    batch = released_batch(heroin, checker=erin, officer=dana, grams="3")
    services.destruction_witnessed(batch=batch, store=system_account(Account.Kind.CENTRAL), grams=D("2"), by=pat,
                                   witness=root, witness_password=PASSWORD, reason="expired", method="incineration")
    confirm = custody._store_witness

    def found_meanwhile(*args, **kwargs):
        confirm(*args, **kwargs)
        services.stock_adjust(batch=batch, grams=D("0.5"), reason="found", by=pat)

    monkeypatch.setattr(custody, "_store_witness", found_meanwhile)
    with pytest.raises(ServiceError) as excinfo:
        destroy_reference(batch, pat, root)
    assert excinfo.value.code == "reference_batch_not_finished"
    assert "0.500 g are still held" in excinfo.value.message_text
    assert held(batch, Account.Kind.REFERENCE) == D("1")
    assert not LedgerEntry.objects.filter(batch=batch, reason=LedgerEntry.DestructionReason.REFERENCE_FINISHED).exists()
