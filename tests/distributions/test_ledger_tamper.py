"""Entries cannot be changed through the application, and changes made around it are caught."""

from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from distributions import services
from distributions.models import Balance, LedgerEntry
from distributions.verify import verify_ledger
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in

pytestmark = pytest.mark.django_db

TABLE = LedgerEntry._meta.db_table
on_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the append-only trigger exists only on PostgreSQL")


@pytest.fixture
def ledger(group_a, alice, pat):
    """A few chains: central (intake, manifest sent), in transit (received), the group's store (three distributions)."""
    batch = batch_at_group(group_a, pat, grams="30")
    member = member_in(group_a)
    entries = [
        services.distribution_record(member=member, batch=batch, grams=D(g), by=alice, idempotency_key=key())
        for g in ("1", "2", "3")
    ]
    return batch, entries


@contextmanager
def behind_the_applications_back():
    """Raw SQL with triggers switched off, as a database superuser could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def broken(entry_id=None):
    report = verify_ledger()
    assert not report.ok
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_ledger", "--quiet")
    if entry_id is not None:
        assert report.first.entry_id == entry_id
        assert f"entry #{entry_id} " in str(excinfo.value)
    return report


# Append-only through the ORM -----------------------------------------------------------------


def test_saving_an_existing_entry_is_refused(ledger):
    entry = ledger[1][0]
    entry.grams = Decimal("100.000")
    with pytest.raises(PermissionError):
        entry.save()


def test_deleting_an_entry_is_refused(ledger):
    with pytest.raises(PermissionError):
        ledger[1][0].delete()


def test_queryset_update_and_delete_are_refused(ledger):
    with pytest.raises(PermissionError):
        LedgerEntry.objects.filter(pk=ledger[1][0].pk).update(grams=Decimal("9.000"))
    with pytest.raises(PermissionError):
        LedgerEntry.objects.all().delete()


@on_postgres
@pytest.mark.parametrize("sql", [f"UPDATE {TABLE} SET grams = 9 WHERE id = %s", f"DELETE FROM {TABLE} WHERE id = %s"])
def test_postgres_refuses_update_and_delete_by_raw_sql(ledger, sql):
    with pytest.raises(DatabaseError) as excinfo, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [ledger[1][0].pk])
    assert "append-only" in str(excinfo.value)


# Caught by verify_ledger ---------------------------------------------------------------------


def test_an_untouched_ledger_verifies(ledger, capsys):
    call_command("verify_ledger")
    out = capsys.readouterr().out
    assert "Ledger OK: 6 entries in 3 chains" in out


def test_it_catches_an_update_and_names_the_entry(ledger):
    target = ledger[1][1]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET grams = 0.5 WHERE id = %s", [target.pk])
    report = broken(target.pk)
    assert "edited" in str(report.first)


def test_it_catches_an_update_that_also_fixes_the_balance(ledger):
    batch, entries = ledger
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET grams = 0.5 WHERE id = %s", [entries[0].pk])
    Balance.objects.filter(batch=batch, account__group__isnull=False).update(grams=D("24.5"))
    broken(entries[0].pk)


def test_it_catches_a_deleted_entry_in_the_middle_of_a_chain(ledger):
    entries = ledger[1]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [entries[1].pk])
    report = broken(entries[2].pk)
    assert "deleted" in str(report.first)


def test_it_catches_the_deletion_of_the_last_entry_of_a_chain(ledger):
    entries = ledger[1]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [entries[2].pk])
    report = broken()
    assert any("head says 3" in str(p) for p in report.problems), report.summary()


def test_it_catches_an_inserted_entry(ledger):
    last = ledger[1][2]
    columns = [f.column for f in LedgerEntry._meta.concrete_fields if f.column != "id"]
    copied = ", ".join(
        {"idempotency_key": "'forged'", "chain_seq": "chain_seq + 1", "hash": "(CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END) || substr(hash, 2)", "prev_hash": "hash"}.get(c, c)
        for c in columns
    )
    with behind_the_applications_back() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} ({', '.join(columns)}) SELECT {copied} FROM {TABLE} WHERE id = %s", [last.pk])
    forged = LedgerEntry.objects.get(idempotency_key="forged")
    report = broken(forged.pk)
    assert "edited" in str(report.first) or "inserted" in str(report.first)


def test_it_catches_an_inserted_entry_with_a_correct_hash_but_no_head(ledger):
    last = ledger[1][2]
    forged = LedgerEntry(
        **{f.attname: getattr(last, f.attname) for f in LedgerEntry._meta.concrete_fields if f.attname != "id"}
    )
    forged.idempotency_key, forged.chain_seq, forged.prev_hash = "forged", last.chain_seq + 1, last.hash
    forged.hash = forged.compute_hash()
    forged.save(force_insert=True)
    report = broken()
    assert any("inserted" in str(p) for p in report.problems)
    assert any("sum to" in str(p) for p in report.problems)


def test_it_catches_a_balance_that_does_not_match_its_entries(ledger):
    batch = ledger[0]
    Balance.objects.filter(batch=batch, account__group__isnull=False).update(grams=D("100"))
    report = broken()
    assert any("entries sum to 24.000 g" in str(p) for p in report.problems)


def test_the_command_lists_every_problem_with_all(ledger, capsys):
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = 'x' WHERE id = %s", [ledger[1][0].pk])
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--all")
    assert f"entry #{ledger[1][0].pk} " in capsys.readouterr().err


# The custody kinds ---------------------------------------------------------------------------


@pytest.fixture
def custody(group_a, alice, carol, pat):
    """One entry of every custody kind, each on its chain: a manifest received short (send,
    receive, difference), one cancelled, a count's difference and a witnessed destruction."""
    from distributions.models import Account
    from distributions.services.ledger import group_account, system_account
    from tests.factories import PASSWORD

    batch = batch_at_group(group_a, pat, grams="30")
    central, store = system_account(Account.Kind.CENTRAL), group_account(group_a)
    short = services.manifest_send(batch=batch, from_store=central, to_store=store, grams=D("5"), packages=1, by=pat)
    services.manifest_receive(manifest=short, grams_received="4.750", by=alice, reason="spillage")
    cancelled = services.manifest_send(batch=batch, from_store=central, to_store=store, grams=D("2"), packages=1, by=pat)
    services.manifest_cancel(manifest=cancelled, by=pat)
    services.count_record(store=store, lines={batch: "34.500"}, by=alice, witness=carol, witness_password=PASSWORD)
    services.destruction_witnessed(batch=batch, store=store, grams="1.000", reason="damaged", method="incineration",
                                   by=alice, witness=carol, witness_password=PASSWORD)
    entries = LedgerEntry.objects.filter(batch=batch)
    return {
        "manifest_send": short.send_entry, "manifest_receive": entries.get(kind=LedgerEntry.Kind.MANIFEST_RECEIVE, grams=D("4.75")),
        "manifest_diff": entries.get(kind=LedgerEntry.Kind.MANIFEST_DIFF),
        "manifest_cancel": entries.get(kind=LedgerEntry.Kind.MANIFEST_CANCEL),
        "count_difference": entries.get(kind=LedgerEntry.Kind.ADJUSTMENT, reason="count_difference"),
        "destruction": entries.get(kind=LedgerEntry.Kind.DESTRUCTION),
    }


CUSTODY_KINDS = ["manifest_send", "manifest_receive", "manifest_diff", "manifest_cancel", "count_difference", "destruction"]


def test_a_ledger_with_every_custody_kind_verifies(custody):
    report = verify_ledger()
    assert report.ok, report.summary()


@pytest.mark.parametrize("kind", CUSTODY_KINDS)
def test_it_catches_an_edited_custody_entry(custody, kind):
    target = custody[kind]
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET grams = 0.125 WHERE id = %s", [target.pk])
    assert "edited" in str(broken(target.pk).first)

