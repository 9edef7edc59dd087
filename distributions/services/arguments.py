"""The arguments every ledger service checks before touching the database, one way each.

Public to the services that add movements of their own (custody, recall): a refusal here is a
``ServiceError`` with the same code whichever service raised it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from compassionclub.errors import ServiceError
from compassionclub.errors import require_permission as require_perm
from compassionclub.quantities import MAX_GRAMS, MILLIGRAM, parse_grams
from testing_results.models import Batch

__all__ = [
    "FUTURE_TOLERANCE", "MAX_GRAMS", "MG", "batch_status_error", "parse_grams", "parse_key", "parse_occurred",
    "parse_reason", "require_perm",
]

# Grams are parsed, and the milligram defined, once for the programme (compassionclub.quantities);
# the names stay here for the services that import their arguments from this module.
MG = MILLIGRAM
# Clocks on a drop-in's tablet and the server disagree a little; anything further ahead is a typo.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


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


def batch_status_error(status: str) -> ServiceError:
    """The refusal for stock of a batch that is not released, by its status."""
    if status == Batch.Status.RECALLED:
        return ServiceError("batch_recalled", "This batch has been recalled. Do not hand it out.")
    if status == Batch.Status.ON_HOLD:
        return ServiceError("batch_on_hold", "This batch is on hold pending review. Do not hand it out.")
    return ServiceError("batch_not_released", "This batch has not been released after drug checking.")
