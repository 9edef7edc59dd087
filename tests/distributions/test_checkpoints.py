"""Signed checkpoints: a database owner who edits an entry and recomputes the chain, its head and
the balances passes verify_ledger, and is caught by a checkpoint taken before; the same for the
audit trail. Missing key, wrong key, truncated or edited checkpoint: a clear error."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from compassionclub.audit.models import AuditChainHead, AuditRecord
from compassionclub.audit.services import audit_log, record_hash
from distributions import services
from distributions.models import Balance, LedgerEntry
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in
from tests.distributions.test_ledger_tamper import behind_the_applications_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(tmp_path):
    call_command("checkpoint", "--generate-key", str(tmp_path / "ledger.key"))
    return tmp_path / "ledger.key", tmp_path / "ledger.key.pub"


@pytest.fixture
def ledger(group_a, alice, pat):
    batch = batch_at_group(group_a, pat, grams="30")
    member = member_in(group_a)
    return [services.distribution_record(member=member, batch=batch, grams=D(g), by=alice, idempotency_key=key())
            for g in ("1", "2", "3")]


def take(keys, path) -> str:
    call_command("checkpoint", "--key", str(keys[0]), "--output", str(path))
    return str(path)


def verify(command: str, checkpoint: str, public_key) -> str:
    from io import StringIO

    out = StringIO()
    call_command(command, "--checkpoint", checkpoint, "--public-key", str(public_key), stdout=out, stderr=StringIO())
    return out.getvalue()


def rewrite_ledger_entry(entry: LedgerEntry, grams: Decimal) -> None:
    """What a database owner can do: change an entry, rehash its chain from there, move the head
    and the balances so that everything adds up again."""
    delta = grams - entry.grams
    table = LedgerEntry._meta.db_table
    with behind_the_applications_back() as cursor:
        cursor.execute(f"UPDATE {table} SET grams = %s WHERE id = %s", [grams, entry.pk])
        prev = None
        for e in LedgerEntry.objects.filter(chain=entry.chain, chain_seq__gte=entry.chain_seq).order_by("chain_seq"):
            if prev is not None:
                e.prev_hash = prev
            e.hash = e.compute_hash()
            cursor.execute(f"UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s", [e.prev_hash, e.hash, e.pk])
            prev = e.hash
        balances = Balance._meta.db_table
        cursor.execute(f"UPDATE {balances} SET grams = grams - %s WHERE account_id = %s AND batch_id = %s",
                       [delta, entry.from_account_id, entry.batch_id])
        cursor.execute(f"UPDATE {balances} SET grams = grams + %s WHERE account_id = %s AND batch_id = %s",
                       [delta, entry.to_account_id, entry.batch_id])
        account_id, batch_id = (int(part) for part in entry.chain.split("."))
        cursor.execute(f"UPDATE {balances} SET last_hash = %s WHERE account_id = %s AND batch_id = %s",
                       [prev, account_id, batch_id])


def test_a_rewritten_chain_passes_verify_ledger_but_not_a_checkpoint_taken_before(keys, ledger, tmp_path):
    checkpoint = take(keys, tmp_path / "before.json")
    assert "extends the checkpoint" in verify("verify_ledger", checkpoint, keys[1])
    rewrite_ledger_entry(ledger[0], Decimal("0.500"))
    call_command("verify_ledger", "--quiet")  # the rewrite is consistent: the chain alone cannot tell
    with pytest.raises(CommandError, match="was rewritten"):
        verify("verify_ledger", checkpoint, keys[1])
    # A checkpoint taken after the rewrite is of course satisfied: take them daily, keep them elsewhere.
    assert "extends" in verify("verify_ledger", take(keys, tmp_path / "after.json"), keys[1])


def test_a_ledger_that_grew_since_the_checkpoint_extends_it(keys, ledger, tmp_path, group_a, alice):
    checkpoint = take(keys, tmp_path / "before.json")
    services.distribution_record(member=member_in(group_a), batch=ledger[0].batch, grams=D("1"), by=alice,
                                 idempotency_key=key())
    assert "extends the checkpoint" in verify("verify_ledger", checkpoint, keys[1])


def test_a_rewritten_audit_trail_passes_verify_audit_but_not_a_checkpoint_taken_before(keys, ledger, tmp_path, pat):
    audit_log(action="test.later", actor=pat, new={"n": 1})
    checkpoint = take(keys, tmp_path / "before.json")
    assert "extends the checkpoint" in verify("verify_audit", checkpoint, keys[1])
    first = AuditRecord.objects.order_by("seq").first()
    table = AuditRecord._meta.db_table
    with behind_the_applications_back() as cursor:
        prev = None
        for record in AuditRecord.objects.order_by("seq").filter(seq__gte=first.seq):
            if prev is None:
                record.new = {"rewritten": True}
                cursor.execute(f"UPDATE {table} SET new = %s WHERE id = %s", [json.dumps(record.new), record.pk])
            else:
                record.prev_hash = prev
            record.hash = record_hash(record)
            cursor.execute(f"UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s",
                           [record.prev_hash, record.hash, record.pk])
            prev = record.hash
        cursor.execute(f"UPDATE {AuditChainHead._meta.db_table} SET last_hash = %s", [prev])
    call_command("verify_audit")
    with pytest.raises(CommandError, match="was rewritten"):
        verify("verify_audit", checkpoint, keys[1])


def test_a_missing_key_is_a_clear_error(ledger, tmp_path, settings):
    settings.CHECKPOINT_KEY_FILE = ""
    with pytest.raises(CommandError, match="No signing key"):
        call_command("checkpoint", "--output", str(tmp_path / "c.json"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("checkpoint", "--key", str(tmp_path / "nothing.key"))


def test_a_wrong_key_a_truncated_or_an_edited_checkpoint_is_a_clear_error(keys, ledger, tmp_path):
    checkpoint = take(keys, tmp_path / "c.json")
    call_command("checkpoint", "--generate-key", str(tmp_path / "other.key"))
    with pytest.raises(CommandError, match="wrong key"):
        verify("verify_ledger", checkpoint, tmp_path / "other.key.pub")
    text = (tmp_path / "c.json").read_text()
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    with pytest.raises(CommandError, match="truncated"):
        verify("verify_audit", str(tmp_path / "truncated.json"), keys[1])
    document = json.loads(text)
    document["payload"]["created_at"] = "2000-01-01T00:00:00+00:00"
    (tmp_path / "edited.json").write_text(json.dumps(document))
    with pytest.raises(CommandError, match="edited after it was signed"):
        verify("verify_ledger", str(tmp_path / "edited.json"), keys[1])
    with pytest.raises(CommandError, match="never overwritten"):
        take(keys, tmp_path / "c.json")


def test_the_checkpoint_names_every_chain_head_and_the_audit_head(keys, ledger, tmp_path):
    take(keys, tmp_path / "c.json")
    document = json.loads((tmp_path / "c.json").read_text())
    chains = document["payload"]["ledger"]["chains"]
    heads = {f"{b.account_id}.{b.batch_id}": [b.last_seq, b.last_hash] for b in Balance.objects.filter(last_seq__gt=0)}
    assert chains == heads and document["payload"]["ledger"]["entries"] == LedgerEntry.objects.count()
    assert document["payload"]["audit"]["last_seq"] == AuditChainHead.objects.get().last_seq
