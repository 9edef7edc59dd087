"""The ledger CSV: every entry with its hash, checked against the database, and the verification."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from compassionclub.errors import ServiceError
from distributions.exports import render
from distributions.exports.base import ExportParams
from distributions.exports.ledger import FULL_MARKER, SUMMARY_MARKER
from distributions.exports.services import export_run
from distributions.models import LedgerEntry
from tests.exports.conftest import today_range
from tests.exports.helpers import run_csv, run_csv_text


def split(rows):
    data = [r for r in rows if r["entry_id"] not in (SUMMARY_MARKER, FULL_MARKER)]
    trailer = {r["entry_id"]: r for r in rows if r["entry_id"] in (SUMMARY_MARKER, FULL_MARKER)}
    return data, trailer


@pytest.mark.django_db
def test_every_entry_is_exported_with_its_hash_and_agrees_with_the_database(world, charlie):
    data, trailer = split(run_csv("ledger", charlie))
    entries = {e.pk: e for e in LedgerEntry.objects.select_related("member")}
    assert sorted(int(r["entry_id"]) for r in data) == sorted(entries)
    for row in data:
        entry = entries[int(row["entry_id"])]
        assert row["kind"] == entry.kind
        assert row["grams"] == f"{entry.grams:.3f}"
        assert row["hash"] == entry.hash == entry.compute_hash()
        assert row["prev_hash"] == entry.prev_hash
        assert row["chain"] == entry.chain and int(row["chain_seq"]) == entry.chain_seq
        assert row["member_code"] == (entry.member.code if entry.member_id else "")
        assert row["chain_check"] == "ok"
    assert trailer[SUMMARY_MARKER]["recorded_at"] == "ok"
    assert FULL_MARKER not in trailer  # the whole ledger is an export of its own
    # Grams per kind agree with the ledger to the milligram.
    distributed = sum(float(r["grams"]) for r in data if r["kind"] == "distribution")
    assert round(distributed, 3) == 7 * 3.5 + 2 * 2 + 2 * 1


@pytest.mark.django_db
def test_the_same_data_and_period_give_the_same_file(world, charlie):
    start, end = today_range()
    first = run_csv_text("ledger", charlie, date_from=start, date_to=end)
    assert first == run_csv_text("ledger", charlie, date_from=start, date_to=end)
    assert first.startswith("entry_id,recorded_at,")


@pytest.mark.django_db
def test_a_period_with_no_entry_exports_only_the_header_and_the_verification(world, charlie):
    start, end = today_range()
    data, trailer = split(run_csv("ledger", charlie, date_from=end, date_to=end))
    assert data == [] and trailer[SUMMARY_MARKER]["recorded_at"] == "ok"


@pytest.mark.django_db
def test_an_entry_edited_behind_the_application_is_flagged_by_the_verification(world, charlie):
    victim = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION).order_by("id")[2]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # past the append-only trigger
        cursor.execute("UPDATE distributions_ledgerentry SET grams = 1.000 WHERE id = %s", [victim.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    # An edit in place keeps every link: recomputing the hashes is the verification's work.
    data, trailer = split(run_csv("ledger", charlie))
    assert {r["chain_check"] for r in data} == {"ok"}
    whole = run_csv("ledger_verification", charlie)
    assert whole[0]["check"] == FULL_MARKER and whole[0]["result"] == "broken"
    assert {int(r["result"]) for r in whole[1:] if r["result"]} == {victim.pk}


@pytest.mark.django_db
def test_the_whole_ledger_is_verified_by_an_export_of_its_own(world, charlie):
    rows = run_csv("ledger_verification", charlie)
    assert [(r["check"], r["result"]) for r in rows] == [(FULL_MARKER, "ok")]
    assert f"{LedgerEntry.objects.count()} entries" in rows[0]["detail"]


@pytest.mark.django_db
def test_a_coordinator_cannot_verify_the_whole_ledger(world, bob):
    with pytest.raises(ServiceError) as excinfo:
        run_csv("ledger_verification", bob)
    assert excinfo.value.code == "not_permitted"


@pytest.mark.django_db
def test_a_coordinator_gets_only_entries_that_touch_their_groups(world, alice, bob):
    data, trailer = split(run_csv("ledger", bob))
    solid_codes = {m.code for m in world.solid_members}
    assert data and all("group:SOLID" in (r["from_account"], r["to_account"]) for r in data)
    assert {r["member_code"] for r in data if r["member_code"]} == solid_codes
    assert FULL_MARKER not in trailer
    data, _ = split(run_csv("ledger", alice))
    assert not {r["member_code"] for r in data} & solid_codes
    assert all("group:SOLID" not in (r["from_account"], r["to_account"]) for r in data)


@pytest.mark.django_db
def test_the_ledger_of_one_member_takes_the_code_as_printed(world, charlie, alice, bob, client):
    from compassionclub.errors import ServiceError
    from members.codes import format_code

    member = world.vandu_members[1]
    printed = format_code(member.code).lower().replace("0", "o").replace("1", "l")
    data, _ = split(run_csv("ledger", charlie, member_code=printed))
    assert data and {r["member_code"] for r in data} == {member.code}
    assert len(data) == LedgerEntry.objects.filter(member=member).count()
    data, _ = split(run_csv("ledger", alice, member_code=format_code(member.code)))
    assert {r["member_code"] for r in data} == {member.code}

    # Another group's member is refused like an unknown code; a typo is named as such.
    with pytest.raises(ServiceError) as refused:
        run_csv("ledger", bob, member_code=format_code(member.code))
    assert refused.value.code == "member_not_found"
    typo = member.code[:-1] + ("0" if member.code[-1] != "0" else "1")
    with pytest.raises(ServiceError) as refused:
        run_csv("ledger", charlie, member_code=typo)
    assert refused.value.code == "code_typo"

    # The admin's export page takes it the same way.
    client.force_login(charlie)
    response = client.post("/admin/exports/ledger/", {"format": "csv", "member_code": f" {format_code(member.code)} "})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    body = b"".join(response.streaming_content).decode()
    assert member.code in body and world.vandu_members[2].code not in body
    page = client.post("/admin/exports/ledger/", {"format": "csv", "member_code": typo})
    assert "has a typo" in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["charlie", "alice"])  # every group's ledger, and a coordinator's (its own plan)
def test_a_deleted_entry_breaks_the_link_of_the_next(world, who, request):
    from distributions.visibility import entries_visible_to

    user = request.getfixturevalue(who)
    victim = entries_visible_to(user).filter(kind=LedgerEntry.Kind.DISTRIBUTION, chain_seq__gt=1).order_by("id")[0]
    after = LedgerEntry.objects.get(chain=victim.chain, chain_seq=victim.chain_seq + 1)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # past the append-only trigger
        cursor.execute("DELETE FROM distributions_ledgerentry WHERE id = %s", [victim.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    data, trailer = split(run_csv("ledger", user))
    flagged = {int(r["entry_id"]): r["chain_check"] for r in data if r["chain_check"] != "ok"}
    assert flagged == {after.pk: f"entry {victim.chain_seq} of its chain is missing (deleted)"}
    assert trailer[SUMMARY_MARKER]["recorded_at"] == "broken"
    assert f"#{after.pk}" in trailer[SUMMARY_MARKER]["occurred_at"]


@pytest.mark.django_db
def test_moments_and_grams_are_written_as_every_export_writes_them(world, charlie):
    # On PostgreSQL the query renders them; the file must not depend on which did.
    from distributions.exports.render import csv_cell

    data, _ = split(run_csv("ledger", charlie))
    entries = {e.pk: e for e in LedgerEntry.objects.all()}
    for row in data:
        entry = entries[int(row["entry_id"])]
        assert row["recorded_at"] == csv_cell(entry.recorded_at)
        assert row["occurred_at"] == csv_cell(entry.occurred_at)
        assert row["grams"] == csv_cell(entry.grams)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 1, 15, 8, 0, 0, tzinfo=dt.UTC),  # a whole second, winter (-08:00)
        dt.datetime(2026, 7, 1, 6, 59, 59, 1, tzinfo=dt.UTC),  # a microsecond past, summer (-07:00), the day before locally
        dt.datetime(2026, 3, 8, 10, 0, 0, 500000, tzinfo=dt.UTC),  # the hour clocks go forward
        dt.datetime(2026, 11, 1, 9, 30, 0, tzinfo=dt.UTC),  # the hour clocks go back
    ],
)
@pytest.mark.parametrize("local_time_zone", [False, True], ids=["any-time-zone", "vancouver-transaction"])
def test_postgresql_renders_a_moment_as_csv_cell_does(moment, local_time_zone):
    if connection.vendor != "postgresql":
        pytest.skip("the moments are rendered by the query on PostgreSQL only")
    from django.db import transaction
    from django.db.models import DateTimeField, Value

    from distributions.exports.render import LocalMoment, csv_cell, in_local_time_zone, local_moment_sql
    from distributions.models import Account

    def rendered() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TimeZone")
            assert (cursor.fetchone()[0] == "America/Vancouver") is local_time_zone
        return Account.objects.annotate(t=LocalMoment(Value(moment, output_field=DateTimeField()))).values_list("t", flat=True)[0]

    def rendered_in_one_call() -> str:
        # What the ledger export writes in its Vancouver-time transaction.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {local_moment_sql('CAST(%s AS timestamptz)')}", [moment])
            return cursor.fetchone()[0]

    with transaction.atomic():
        if local_time_zone:
            with in_local_time_zone():
                assert rendered() == csv_cell(moment)
                assert rendered_in_one_call() == csv_cell(moment)
        else:
            assert rendered() == csv_cell(moment)


@pytest.mark.django_db
def test_the_ledger_export_leaves_the_transaction_in_the_connections_time_zone(world, charlie, monkeypatch):
    # Its rows are read in Vancouver time on PostgreSQL; whoever reads moments after it in the
    # same transaction (a test, a command wrapped in one) must get them as before.
    def zone() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TimeZone" if connection.vendor == "postgresql" else "SELECT 'UTC'")
            return cursor.fetchone()[0]

    before = zone()
    run_csv("ledger", charlie)
    assert zone() == before
    monkeypatch.setattr(render, "FLUSH_BYTES", 1)
    output = export_run(identifier="ledger", user=charlie, params=ExportParams(), fmt="csv")
    next(output.chunks), next(output.chunks)  # the header, then a row: rows still to come
    output.chunks.close()  # cut short
    assert zone() == before


def reference_ledger_csv(entries, *, previous_codes: bool) -> str:
    """The ledger CSV as written from model instances, cell by cell through ``csv_cell``: the
    export reads plain values (and on PostgreSQL has the query render moments and grams), and
    must give the same bytes."""
    import csv
    import io

    from distributions.exports.ledger import LEDGER_COLUMNS, entry_chain_check
    from distributions.exports.render import csv_cell, neutral
    from members.models import RetiredCode

    retired: dict[int, list[str]] = {}
    if previous_codes:
        for code in RetiredCode.objects.order_by("retired_at", "id"):
            retired.setdefault(code.member_id, []).append(code.code)

    def account(a):
        return f"group:{neutral(a.group.short_name)}" if a.group_id is not None else a.kind

    hashes = {(e.chain, e.chain_seq): e.hash for e in LedgerEntry.objects.all()}
    lines = [LEDGER_COLUMNS]
    for e in entries:
        lines.append([csv_cell(v) for v in (
            e.pk, e.recorded_at, e.occurred_at, e.kind, e.batch.code, e.batch.substance.name,
            account(e.from_account), account(e.to_account), e.grams, e.member.code if e.member_id else None,
            e.recorded_by.get_username(), e.reason, e.reverses_id, e.batch_id, e.from_account_id, e.to_account_id,
            e.member_id, e.recorded_by_id, e.idempotency_key, e.chain, e.chain_seq, e.prev_hash, e.hash,
            entry_chain_check(e.chain_seq, e.prev_hash, hashes.get((e.chain, e.chain_seq - 1))),
            " ".join(retired.get(e.member_id, [])),
        )])
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(lines)
    return out.getvalue()


@pytest.mark.django_db
def test_the_csv_is_byte_for_byte_the_rendering_of_each_entry(world, charlie, alice):
    from distributions.visibility import entries_visible_to

    entries = LedgerEntry.objects.select_related(
        "batch__substance", "from_account__group", "to_account__group", "member", "recorded_by"
    ).order_by("recorded_at", "id")
    for user in (charlie, alice):  # every group, and a coordinator's (on PostgreSQL, off its own plan)
        text = run_csv_text("ledger", user)
        body, _, trailer = text.rpartition(SUMMARY_MARKER)
        assert body == reference_ledger_csv(
            entries_visible_to(user, entries), previous_codes=user.has_perm("members.view_retiredcode")
        )
        assert trailer.startswith(",ok,")


@pytest.mark.django_db
def test_a_coordinator_s_export_reads_the_labels_of_their_stores_batches_up_front(world, alice):
    from distributions.exports import ledger
    from distributions.visibility import coordinated_store_ids
    from testing_results.models import Batch

    data, _ = split(run_csv("ledger", alice))
    named = {int(r["batch_id"]) for r in data}
    read = set(ledger._batch_cells(coordinated_store_ids(alice)))
    assert named <= read < set(Batch.objects.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_batch_not_read_up_front_is_read_when_a_row_names_it(world, alice, monkeypatch):
    # Transactional: on PostgreSQL the batch is read on a connection of its own, mid-stream,
    # which sees committed rows only.
    from distributions.exports import ledger
    from testing_results.models import Batch

    expected = run_csv_text("ledger", alice)
    monkeypatch.setattr(ledger, "_batch_cells", lambda stores: ledger._BatchCells(Batch.objects.none()))
    assert run_csv_text("ledger", alice) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["charlie", "alice"])  # every group's ledger, and a coordinator's (its own plan)
def test_each_link_is_checked_whatever_comes_before_it_in_the_file(world, who, request):
    # Each row's link is checked against its predecessor in the database, wherever that
    # predecessor falls: before the period (outside the file), or later in the file (recorded
    # out of order).
    from distributions.visibility import entries_visible_to

    user = request.getfixturevalue(who)
    entry = entries_visible_to(user).filter(chain_seq=3).order_by("id").first()
    before = LedgerEntry.objects.get(chain=entry.chain, chain_seq=2)
    first = LedgerEntry.objects.get(chain=entry.chain, chain_seq=1)
    moved = {first.pk: first.recorded_at - dt.timedelta(days=7), before.pk: entry.recorded_at + dt.timedelta(seconds=1)}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # past the append-only trigger
        for pk, moment in moved.items():
            cursor.execute("UPDATE distributions_ledgerentry SET recorded_at = %s WHERE id = %s",
                           [connection.ops.adapt_datetimefield_value(moment), pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
    date_from, date_to = today_range()
    data, trailer = split(run_csv("ledger", user, date_from=date_from, date_to=date_to))
    ids = [int(r["entry_id"]) for r in data]
    assert first.pk not in ids and ids.index(entry.pk) < ids.index(before.pk)
    assert {r["chain_check"] for r in data} == {"ok"}
    assert trailer[SUMMARY_MARKER]["recorded_at"] == "ok"


@pytest.mark.django_db
def test_a_download_cut_short_mid_stream_is_recorded_and_the_connection_goes_on(world, charlie, monkeypatch):
    # On PostgreSQL the rows come as the database sends them; one row at a time here, so that
    # the query is still running when the client goes away. Closing cancels it, the export's
    # transaction rolls back, and the record of the cut and the next query go through.
    from compassionclub.audit.models import AuditRecord
    from distributions.exports.ledger import LedgerCsv

    monkeypatch.setattr(LedgerCsv, "chunk_size", 1)
    monkeypatch.setattr(render, "FLUSH_BYTES", 1)
    output = export_run(identifier="ledger", user=charlie, params=ExportParams(), fmt="csv")
    sent = next(output.chunks) + next(output.chunks) + next(output.chunks)  # the header, then two rows
    output.chunks.close()
    record = AuditRecord.objects.get(action="export.ledger")
    assert record.new["completed"] is False and record.new["bytes"] == len(sent)
    assert LedgerEntry.objects.count() > 2
    data, trailer = split(run_csv("ledger", charlie))
    assert len(data) == LedgerEntry.objects.count() and trailer[SUMMARY_MARKER]["recorded_at"] == "ok"


@pytest.mark.django_db
def test_a_coordinator_of_no_group_yet_gets_an_empty_ledger(world):
    from compassionclub.roles import Role
    from tests import factories as f

    newcomer = f.UserFactory(username="newcomer", roles=[Role.COORDINATOR])
    data, trailer = split(run_csv("ledger", newcomer))
    assert data == [] and trailer[SUMMARY_MARKER]["recorded_at"] == "ok"
    assert "0 entries checked" in trailer[SUMMARY_MARKER]["occurred_at"]
