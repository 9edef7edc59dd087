"""The witness is checked by the custody services themselves, whoever calls them: a destruction,
a count's signature and a receipt's weight each need the witness's own password (and current
two-factor code where they have one, or must have one). Each refusal has its own code and
stores nothing: no entry, no balance moved, no custody record, no audit record but the
witness's failed sign-in."""

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from compassionclub.audit.models import AuditRecord
from compassionclub.roles import Role
from distributions import services
from distributions.models import Balance, BatchReceipt, LedgerEntry, StockCount, WitnessedDestruction
from distributions.services.ledger import group_account
from testing_results.models import Batch
from tests import factories as f
from tests.distributions.ledger_helpers import D, batch_at_group, refuser, store_grams
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

SIGN_IN_FAILURES = {"auth.login_failed", "custody.witness_failed"}


def stored():
    return (
        LedgerEntry.objects.count(),
        sorted(Balance.objects.values_list("account_id", "batch_id", "grams")),
        WitnessedDestruction.objects.count(), StockCount.objects.count(), BatchReceipt.objects.count(),
        Batch.objects.count(),
        AuditRecord.objects.exclude(action__in=SIGN_IN_FAILURES).count(),
    )


refused = refuser(stored)


def request_of(user):
    request = RequestFactory().post("/admin/")
    request.user = user
    return request


def current_code(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture
def batch(group_a, pat):
    return batch_at_group(group_a, pat, grams="10.000", received="50.000")


@pytest.fixture
def frank(db):
    return f.UserFactory(username="frank", roles=[Role.DRUG_CHECKER])


def destroy(batch, by, witness, **credentials):
    return services.destruction_witnessed(
        batch=batch, store=group_account(batch_group(batch)), grams=D(1), reason="damaged", method="incineration",
        by=by, witness=witness, **credentials,
    )


def batch_group(batch):
    return Balance.objects.filter(batch=batch, account__group__isnull=False).select_related("account__group").get().account.group


def count(batch, by, witness, **credentials):
    return services.count_record(store=group_account(batch_group(batch)), lines={batch: "10.000"}, by=by, witness=witness,
                                 **credentials)


def receive(substance, by, witness, **credentials):
    return services.batch_receipt_record(
        substance=substance, supplier_ref="SUP-0014", supplier_lot="L-1", packages=1, weighed_grams="100",
        received_on=timezone.localdate(), by=by, witness=witness, **credentials,
    )


ACTS = ["destroy", "count", "receive"]


@pytest.fixture
def act(request, batch, alice, carol, erin, frank):
    """Each witnessed act with its actor and the right witness: (call, by, witness)."""
    substance = batch.substance
    return {
        "destroy": (lambda **kw: destroy(batch, **kw), alice, carol),
        "count": (lambda **kw: count(batch, **kw), alice, carol),
        "receive": (lambda **kw: receive(substance, **kw), erin, frank),
    }[request.param]


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_a_wrong_witness_password_is_refused_and_counted_as_a_failed_sign_in(act):
    call, by, witness = act
    error = refused("witness_not_confirmed", call, by=by, witness=witness, witness_password="guess",
                    request=request_of(by))
    assert "password was not accepted" in error.message_text
    assert AuditRecord.objects.filter(action="auth.login_failed").exists()


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_a_missing_witness_password_is_refused(act):
    call, by, witness = act
    refused("witness_not_confirmed", call, by=by, witness=witness, witness_password="")
    refused("witness_not_confirmed", call, by=by, witness=witness, witness_password=None)


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_the_actor_cannot_witness_with_their_own_password(act):
    call, by, _ = act
    refused("witness_same_person", call, by=by, witness=by, witness_password=PASSWORD)


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_a_witness_without_the_right_is_refused_before_their_password_is_tried(act, charlie):
    call, by, _ = act
    refused("witness_not_permitted", call, by=by, witness=charlie, witness_password=PASSWORD)
    assert not AuditRecord.objects.filter(action__in=SIGN_IN_FAILURES).exists()


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_an_enrolled_witness_must_give_their_current_two_factor_code(act):
    call, by, witness = act
    device = TOTPDevice.objects.create(user=witness, name="phone", confirmed=True)
    refused("witness_not_confirmed", call, by=by, witness=witness, witness_password=PASSWORD, request=request_of(by))
    refused("witness_not_confirmed", call, by=by, witness=witness, witness_password=PASSWORD, witness_code="000000x",
            request=request_of(by))
    assert AuditRecord.objects.filter(action="custody.witness_failed", actor=by).exists()
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code throttles the device for a second or more
    call(by=by, witness=witness, witness_password=PASSWORD, witness_code=current_code(device), request=request_of(by))


@pytest.mark.parametrize("act", ACTS, indirect=True)
def test_where_two_factor_is_required_a_witness_without_it_cannot_witness(act, settings):
    settings.REQUIRE_2FA = True
    call, by, witness = act
    refused("witness_without_two_factor", call, by=by, witness=witness, witness_password=PASSWORD, request=request_of(by))


def test_the_service_cannot_be_called_without_the_witnesss_password(batch, alice, carol):
    with pytest.raises(TypeError):
        services.destruction_witnessed(batch=batch, store=group_account(batch_group(batch)), grams=D(1), reason="damaged",
                                       method="incineration", by=alice, witness=carol)


def test_a_command_line_caller_confirms_the_witness_the_same_way(batch, alice, carol, group_a):
    # No request (a management command at the server): the password is still checked.
    refused("witness_not_confirmed", destroy, batch=batch, by=alice, witness=carol, witness_password="guess")
    record = destroy(batch, alice, carol, witness_password=PASSWORD)
    assert record.witness == carol
    assert store_grams(batch, group_a) == D(9)
