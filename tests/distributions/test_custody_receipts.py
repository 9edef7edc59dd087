"""Receipt from the supplier: the supplier's code (never a name) and lot, the packages and the
weighed grams, confirmed by a second person; the intake is the weighed grams."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from compassionclub.roles import Role
from distributions import services
from distributions.models import BatchReceipt, LedgerEntry
from testing_results.models import Batch
from tests import factories as f
from tests.builders import receipt_fields
from tests.distributions.ledger_helpers import D, store_grams
from tests.distributions.test_custody_manifests import refused
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def heroin(db):
    return f.SubstanceFactory(name="Heroin")


@pytest.fixture
def frank(db):
    return f.UserFactory(username="frank", roles=[Role.DRUG_CHECKER])


def receive(substance, by, witness, **kw):
    fields = {"supplier_ref": "sup-0014", "supplier_lot": "L-2026/07", "packages": 4, "weighed_grams": "250.125",
              "received_on": timezone.localdate(), "witness_password": PASSWORD, **kw}
    return services.batch_receipt_record(substance=substance, by=by, witness=witness, **fields)


def test_a_receipt_records_the_supplier_the_packages_and_the_weighed_grams(heroin, erin, frank):
    receipt = receive(heroin, erin, frank)
    assert (receipt.supplier_ref, receipt.supplier_lot, receipt.packages) == ("SUP-0014", "L-2026/07", 4)
    assert (receipt.weighed_grams, receipt.received_by, receipt.confirmed_by) == (D("250.125"), erin, frank)
    batch = receipt.batch
    assert batch.status == Batch.Status.QUARANTINED and batch.received_grams == D("250.125")
    intake, reference = LedgerEntry.objects.filter(batch=batch).order_by("id")
    assert (intake.kind, intake.grams, reference.kind, reference.grams) == ("intake", D("250.125"), "reference", D("1"))
    assert store_grams(batch) == D("249.125")  # the reference sample (1 g by default) is not store stock


def test_programme_staff_may_confirm_the_weight(heroin, erin, pat):
    assert receive(heroin, erin, pat).confirmed_by == pat


@pytest.mark.parametrize("field, value, code", [
    ("supplier_ref", "John Smith", "supplier_ref_invalid"), ("supplier_ref", "", "supplier_ref_invalid"),
    ("supplier_lot", "", "supplier_lot_invalid"), ("supplier_lot", "lot 7; drop", "supplier_lot_invalid"),
    ("packages", 0, "packages_invalid"), ("weighed_grams", "-5", "grams_negative"), ("weighed_grams", "0", "grams_not_positive"),
    ("weighed_grams", "abc", "grams_invalid"),
])
def test_bad_receipts_are_refused_and_store_nothing(heroin, erin, frank, field, value, code):
    refused(code, receive, substance=heroin, by=erin, witness=frank, **{field: value})
    assert not Batch.objects.exists() and not BatchReceipt.objects.exists()


def test_the_weight_is_confirmed_by_someone_else_with_the_right(heroin, erin, alice, charlie):
    refused("witness_same_person", receive, substance=heroin, by=erin, witness=erin)
    refused("witness_not_permitted", receive, substance=heroin, by=erin, witness=alice)
    refused("witness_not_permitted", receive, substance=heroin, by=erin, witness=charlie)


def test_a_receipt_in_the_future_is_refused_by_the_batch_service(heroin, erin, frank):
    refused("received_in_future", receive, substance=heroin, by=erin, witness=frank,
            received_on=timezone.localdate() + dt.timedelta(days=2))


def test_the_receive_page_asks_the_witness_for_their_password_and_redirects(client, heroin, erin, frank):
    client.force_login(erin)
    url = reverse("admin:testing_results_batch_add")
    assert b"Weight confirmed by" in client.get(url).content
    data = {"substance": heroin.pk, "received_grams": "120.000", "received_on": timezone.localdate().isoformat(),
            "best_before": "", **receipt_fields(frank)}
    wrong = client.post(url, {**data, "witness_password": "guess"})
    assert wrong.status_code == 200 and b"password was not accepted" in wrong.content
    assert not Batch.objects.exists()
    response = client.post(url, data)
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:testing_results_batch_change", args=[batch.pk])
    assert batch.receipt.supplier_ref == "SUP-0014" and batch.receipt.confirmed_by == frank
