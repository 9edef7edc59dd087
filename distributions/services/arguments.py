"""The arguments every ledger service checks before touching the database, one way each.

Public to the services that add movements of their own (custody, recall): a refusal here is a
``ServiceError`` with the same code whichever service raised it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from compassionclub.errors import ServiceError
from testing_results.models import Batch

MG = Decimal("0.001")

MAX_GRAMS = Decimal("999999999.999")
# Clocks on a drop-in's tablet and the server disagree a little; anything further ahead is a typo.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


def parse_grams(value, *, signed: bool = False) -> Decimal:
    """A positive amount of whole milligrams (with ``signed``, any amount but zero), as a Decimal."""
    try:
        grams = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("grams_invalid", f"{value!r} is not an amount in grams.")
    if not grams.is_finite():
        raise ServiceError("grams_invalid", f"{value!r} is not an amount in grams.")
    if grams != grams.quantize(MG):
        raise ServiceError("grams_invalid", f"{grams} g is more precise than the milligram the scales weigh to.")
    grams = grams.quantize(MG)
    if signed:
        if grams == 0:
            raise ServiceError("grams_zero", "An adjustment must change the stock: enter a positive or negative amount.")
    elif grams <= 0:
        raise ServiceError("grams_not_positive", "Enter an amount in grams greater than zero.")
    if abs(grams) > MAX_GRAMS:
        raise ServiceError("grams_invalid", f"{grams} g is more than the ledger can hold in one entry.")
    return grams


def parse_key(value: str | None, *, required: bool = False) -> str:
    """An idempotency key of at most 64 characters; a fresh one when none is given and none is required."""
    if value is None or value == "":
        if required:
            raise ServiceError("idempotency_key_missing", "Each distribution needs a unique key so a retry is safe.")
        return uuid.uuid4().hex
    key = str(value)
    if len(key) > 64:
        raise ServiceError("idempotency_key_invalid", "The idempotency key is longer than 64 characters.")
    return key


def parse_occurred(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """When the movement happened (aware), ``now`` if not given; never in the future."""
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > now + FUTURE_TOLERANCE:
        raise ServiceError("occurred_in_future", "The time given is in the future.")
    return value


def parse_reason(value, choices, field: str = "reason") -> str:
    """A reason code from ``choices`` (a ``TextChoices``): reasons are codes, never free text."""
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ServiceError("reason_invalid", f"Choose a {field} from the list ({allowed}).")
    return str(value)


def require_perm(by, perm: str, action: str) -> None:
    if not (by.is_active and by.has_perm(perm)):
        raise ServiceError("not_permitted", f"You are not allowed to {action}.")


def batch_status_error(status: str) -> ServiceError:
    """The refusal for stock of a batch that is not released, by its status."""
    if status == Batch.Status.RECALLED:
        return ServiceError("batch_recalled", "This batch has been recalled. Do not hand it out.")
    if status == Batch.Status.ON_HOLD:
        return ServiceError("batch_on_hold", "This batch is on hold pending review. Do not hand it out.")
    return ServiceError("batch_not_released", "This batch has not been released after drug checking.")
