"""The bench's drop-ins leave the ledger as the services would. A lane's batch may be one no
member has received yet, so the members' account has no balance row for it; the plain-SQL
baseline moves that row with an UPDATE, which found nothing to move, and the ledger failed to
verify after a bench at scale 1."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Max

from bench.generate import ADMIN_USERNAME, generate
from bench.throughput import prepare_lanes
from distributions.models import Account, Balance
from distributions.services import intake_record
from testing_results.models import Batch
from tests.factories import BatchFactory

pytestmark = pytest.mark.django_db


def test_a_lane_on_a_batch_no_member_has_received_gets_the_members_balance_row():
    generate(scale=0.001, seed=7, log=lambda _line: None)
    admin = get_user_model().objects.get(username=ADMIN_USERNAME)
    fullest = Balance.objects.filter(account__kind=Account.Kind.CENTRAL).aggregate(m=Max("grams"))["m"]
    substance = Batch.objects.filter(status=Batch.Status.RELEASED).order_by("id").first().substance
    # The fullest batch in the central store is the one the first lane takes.
    batch = BatchFactory(substance=substance, status=Batch.Status.RELEASED, received_grams=fullest + 1)
    intake_record(batch=batch, by=admin)
    members_account = Account.objects.get(kind=Account.Kind.MEMBERS)
    assert not Balance.objects.filter(account=members_account, batch=batch).exists()

    (lane,) = prepare_lanes(1, grams_each=Decimal("1.000"))

    assert lane.batch_id == batch.pk
    row = Balance.objects.get(account=members_account, batch=batch)
    assert row.grams == 0 and not row.internal
