"""Retention: what ``manage.py purge`` removes, per kind of record, after the period set in
``settings.RETENTION`` (README, "Retention").

Each kind is a ``Rule``: what it counts as due at a moment and how it purges that, in batches
with progress. Nothing here touches what the hash chains cover: the audit trail loses staff
addresses (the chain covers their keyed digests), and the ledger keeps every entry of a member
who is forgotten (the entries, and their hashes, point at the member's row by its id, which
stays; the code on the row is replaced).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from compassionclub.audit.models import AuditRecord
from compassionclub.audit.services import audit_forget_addresses, audit_log
from compassionclub.errors import ServiceError
from distributions.status_page.models import AttemptCounter
from members.services import member_forget, members_left_before

Progress = Callable[[int, int], None]
BATCH = 1000


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    kept: str  # how long, in words, for the printed plan
    count: Callable[[dt.datetime], int]
    purge: Callable[[dt.datetime, Progress | None], int]


def _period(key: str) -> dt.timedelta:
    return settings.RETENTION[key]


def _delete_in_batches(queryset, progress: Progress | None) -> int:
    total, done = queryset.count(), 0
    while done < total:
        ids = list(queryset.values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        with transaction.atomic():
            done += queryset.model.objects.filter(pk__in=ids).delete()[0]
        if progress is not None:
            progress(done, total)
    return done


# Status-page counters: every row whose window (or a lock's memory) has ended. Their lifetime is
# set by the retention period itself (ratelimit.LOCK_MEMORY), so "ended" is "past retention".
def _counters(now: dt.datetime):
    return AttemptCounter.objects.filter(expires_at__lte=now)


# Staff addresses on audit records older than the period.
def _addresses(now: dt.datetime):
    return AuditRecord.objects.filter(created_at__lt=now - _period("audit_addresses"), ip_address__isnull=False)


# django-axes keeps who signed in (or failed to) from where, with the browser's user agent.
SIGN_IN_MODELS = (AccessAttempt, AccessFailureLog, AccessLog)


def _sign_ins(now: dt.datetime) -> list:
    before = now - _period("sign_in_records")
    return [model.objects.filter(attempt_time__lt=before) for model in SIGN_IN_MODELS]


def _sessions(now: dt.datetime):
    return Session.objects.filter(expire_date__lt=now)


def _purge_sign_ins(now: dt.datetime, progress: Progress | None) -> int:
    return sum(_delete_in_batches(queryset, progress) for queryset in _sign_ins(now))


# Members withdrawn longer than the programme keeps members who left: forgotten one by one,
# each in its own transaction (members.services.member_forget).
def _members_left(now: dt.datetime):
    return members_left_before(now - _period("members_left"))


def _forget_members(now: dt.datetime, progress: Progress | None) -> int:
    due = list(_members_left(now).order_by("pk"))
    forgotten = 0
    for done, member in enumerate(due, start=1):
        try:
            member_forget(member=member)
            forgotten += 1
        except ServiceError as error:
            if error.code != "member_forgotten":
                raise
            # A purge running at the same time (two cron jobs overlapping) got there first.
        if progress is not None and (done % 100 == 0 or done == len(due)):
            progress(done, len(due))
    return forgotten


RULES: tuple[Rule, ...] = (
    Rule("status_page_counters", "status-page try counters", "until their window ends; a lock's level a day",
         lambda now: _counters(now).count(), lambda now, progress: _delete_in_batches(_counters(now), progress)),
    Rule("audit_addresses", "staff addresses in the audit trail", "90 days",
         lambda now: _addresses(now).count(),
         lambda now, progress: audit_forget_addresses(before=now - _period("audit_addresses"), progress=progress)),
    Rule("sign_in_records", "sign-in records (username, address, browser)", "90 days",
         lambda now: sum(q.count() for q in _sign_ins(now)), _purge_sign_ins),
    Rule("members_left", "members who left (code replaced, PIN and consent dropped)", "set by the programme",
         lambda now: _members_left(now).count(), _forget_members),
    Rule("sessions", "expired staff sessions", "until they expire",
         lambda now: _sessions(now).count(), lambda now, progress: _delete_in_batches(_sessions(now), progress)),
)


def kept_for(key: str) -> str:
    """The period of ``key`` in words, from the settings (for the printed plan)."""
    period = settings.RETENTION.get(key)
    if period is None:
        return next(rule.kept for rule in RULES if rule.key == key)
    if period % dt.timedelta(days=1):
        return f"{period.total_seconds() / 3600:g} hours"
    return f"{period.days} day{'' if period.days == 1 else 's'}"


def purge_plan(now: dt.datetime | None = None) -> dict[str, int]:
    """How many records of each kind are due: what ``purge`` would remove now."""
    now = now or timezone.now()
    return {rule.key: rule.count(now) for rule in RULES}


def purge(*, now: dt.datetime | None = None, progress: Callable[[Rule, int, int], None] | None = None) -> dict[str, int]:
    """Remove what is due, kind by kind, and record in the audit trail what went (counts and
    cut-offs, never what the records said). Returns the counts per kind."""
    now = now or timezone.now()
    done: dict[str, int] = {}
    for rule in RULES:
        done[rule.key] = rule.purge(now, (lambda d, t, rule=rule: progress(rule, d, t)) if progress else None)
    audit_log(
        action="retention.purged", target_repr="retention schedule",
        new={"at": now, "removed": done,
             "periods": {key: period.total_seconds() for key, period in settings.RETENTION.items()}},
    )
    return done
