"""Desk fixtures: substances, a member of VANDU (alice's group) and released stock that was
received, transferred and recalled through the services, as it is in production."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from distributions import services
from testing_results.models import Batch
from tests import factories as f
from tests.builders import transfer


@pytest.fixture
def stock(pat):
    """``stock(group, substance, grams, best_before=..., code=...)``: a released batch, taken in
    and transferred to the group's store through the ledger services."""

    def make(group, substance, grams: str = "100.000", *, best_before: dt.date | None = None, code: str | None = None):
        extra = {"code": code} if code else {}
        batch = f.BatchFactory(
            substance=substance,
            status=Batch.Status.RELEASED,
            best_before=best_before or timezone.localdate() + dt.timedelta(days=200),
            label_text=f"{substance.name}: drug-checked, no fentanyl or benzodiazepines detected.",
            **extra,
        )
        services.intake_record(batch=batch, by=pat)
        transfer(batch=batch, to_group=group, grams=Decimal(grams), by=pat)
        return batch

    return make
