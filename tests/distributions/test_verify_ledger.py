"""The ledger's one hash function keeps the v1 format, and the verifier finds the same breaks in parallel."""

import datetime as dt
import hashlib
import json
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distributions import services, verify
from distributions.hashing import canonical_hash, entry_hash
from distributions.models import LedgerEntry
from distributions.verify import grams_sql, timestamp_sql, verify_ledger
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in

TABLE = LedgerEntry._meta.db_table

ids = st.none() | st.integers(min_value=1, max_value=2**63 - 1)
# Plain text, and text with quotes, backslashes, control characters or any unicode.
text = st.text(alphabet="abcdef0123456789.-_ ", max_size=40) | st.text(max_size=40)
grams = st.decimals(min_value=Decimal("-999999999.999"), max_value=Decimal("999999999.999"), places=3)
zones = st.sampled_from([dt.UTC, zoneinfo.ZoneInfo("America/Vancouver"), zoneinfo.ZoneInfo("Asia/Kolkata")])
moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=zones
) | st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=zones).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 10_000 * 10_000)  # trailing zeros, and none at all
)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def v1_hash(
    kind, batch_id, from_account_id, to_account_id, grams, member_id, recorded_by_id,
    recorded_at, occurred_at, idempotency_key, reason, reverses_id, chain, chain_seq, prev_hash,
) -> str:
    """The v1 format as first written, through ``json.dumps``: every hash already stored was
    computed this way, so the canonical function must never drift from it."""
    canonical = json.dumps(
        [
            "v1", kind, batch_id, from_account_id, to_account_id, f"{Decimal(grams):.3f}", member_id,
            recorded_by_id, recorded_at.astimezone(dt.UTC).isoformat(), occurred_at.astimezone(dt.UTC).isoformat(),
            idempotency_key, reason, reverses_id, chain, chain_seq, prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.slow
@settings(max_examples=500)
@given(
    kind=text, batch_id=st.integers(1, 2**31), from_id=st.integers(1, 2**31), to_id=st.integers(1, 2**31), amount=grams,
    member_id=ids, by_id=ids, recorded_at=moments, occurred_at=moments, idempotency_key=text, reason=text,
    reverses_id=ids, chain=text, seq=st.integers(1, 2**63 - 1), prev_hash=text,
)
def test_the_hash_is_byte_for_byte_the_v1_json_form(
    kind, batch_id, from_id, to_id, amount, member_id, by_id, recorded_at, occurred_at, idempotency_key, reason,
    reverses_id, chain, seq, prev_hash,
):
    expected = v1_hash(
        kind, batch_id, from_id, to_id, amount, member_id, by_id, recorded_at, occurred_at, idempotency_key, reason,
        reverses_id, chain, seq, prev_hash,
    )
    from_values = entry_hash(
        kind, batch_id, from_id, to_id, amount, member_id, by_id, recorded_at, occurred_at, idempotency_key, reason,
        reverses_id, chain, seq, prev_hash,
    )
    from_text = canonical_hash(
        kind, batch_id, from_id, to_id, f"{amount:.3f}", member_id, by_id, iso(recorded_at), iso(occurred_at),
        idempotency_key, reason, reverses_id, chain, seq, prev_hash,
    )
    assert from_values == from_text == expected


def test_the_writers_and_the_verifier_share_one_hash_function():
    from distributions import models

    assert models.entry_hash is entry_hash
    assert verify.canonical_hash is canonical_hash


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=moments, amount=grams.filter(lambda g: g > 0))
def test_the_database_renders_timestamps_and_grams_as_the_hash_has_them(moment, amount):
    """The SQL the verifier reads with, applied to values stored the way the ORM stores them."""
    stored_moment = connection.ops.adapt_datetimefield_value(moment)
    stored_grams = connection.ops.adapt_decimalfield_value(amount, 12, 3)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {timestamp_sql(connection.vendor, 't')}, {grams_sql(connection.vendor, 'g')} "
            f"FROM (SELECT CAST(%s AS {'timestamptz' if connection.vendor == 'postgresql' else 'TEXT'}) AS t, "
            f"CAST(%s AS {'numeric(12, 3)' if connection.vendor == 'postgresql' else 'DECIMAL'}) AS g) AS stored",
            [stored_moment, stored_grams],
        )
        rendered_moment, rendered_grams = cursor.fetchone()
    assert rendered_moment == iso(moment)
    assert rendered_grams == f"{amount:.3f}"


def test_ranges_cover_every_chain_once_and_share_the_entries():
    names = [f"{i}.{j}" for i in range(1, 4) for j in range(1, 50)]
    weights = [1 + (i * 7) % 13 for i in range(len(names))]
    ranges = verify._ranges(names, weights, 3)
    assert len(ranges) == 3 and ranges[0][0] is None and ranges[-1][1] is None
    assert all(hi == next_lo for (_lo, hi), (next_lo, _hi) in zip(ranges, ranges[1:], strict=False))
    shares = [sum(w for n, w in zip(names, weights, strict=True) if (lo is None or n >= lo) and (hi is None or n < hi)) for lo, hi in ranges]
    assert sum(shares) == sum(weights) and max(shares) < sum(weights) / 2


@pytest.fixture
def committed_ledger(transactional_db, group_a, alice, pat, monkeypatch):
    """A committed ledger (other connections see it), verified by workers however small it is."""
    monkeypatch.setattr(verify, "PARALLEL_FROM", 0)
    runs = []
    run_parallel = verify._run_parallel
    monkeypatch.setattr(verify, "_run_parallel", lambda *args: runs.append(len(args[2])) or run_parallel(*args))
    batch = batch_at_group(group_a, pat, grams="30")
    member = member_in(group_a)
    entries = [
        services.distribution_record(member=member, batch=batch, grams=D(g), by=alice, idempotency_key=key())
        for g in ("1", "2.5", "0.125")
    ]
    entries.append(services.entry_reverse(entry=entries[1], reason="wrong_grams", by=pat))
    yield entries
    # Workers need a database other connections can open: not SQLite's in-memory test database.
    in_memory = connection.vendor == "sqlite" and connection.is_in_memory_db()
    assert runs == ([] if in_memory else [2])


def test_workers_verify_a_committed_ledger(committed_ledger):
    ticks = []
    report = verify_ledger(jobs=2, progress=lambda done, total: ticks.append((done, total)), progress_every=1)
    assert report.ok, report.summary()
    assert report.entries == LedgerEntry.objects.count() and report.chains == 3  # central, in transit, the store
    assert ticks and ticks[-1][0] == report.entries


def test_workers_name_the_first_edited_entry(committed_ledger):
    target = committed_ledger[1]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE {TABLE} SET occurred_at = occurred_at - INTERVAL '1 second' WHERE id = %s"
                       if connection.vendor == "postgresql" else f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [target.pk])
    report = verify_ledger(jobs=2)
    assert not report.ok
    assert report.first.entry_id == target.pk and "edited" in str(report.first)
