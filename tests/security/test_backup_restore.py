"""The restore drill: a backup (pg_dump custom format on PostgreSQL, the SQLite online backup API
on SQLite) restored by ``scripts/restore`` into a fresh database verifies end to end there:
``verify_ledger`` and ``verify_audit``, each against a checkpoint taken before the backup. A
restore refuses a database that is not empty; a backup never overwrites a file."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from compassionclub.audit.services import audit_log
from distributions import services
from distributions.models import LedgerEntry
from tests.distributions.ledger_helpers import D, batch_at_group, key, member_in
from tests.factories import seeded_methods

ROOT = Path(settings.BASE_DIR)


def manage(env: dict[str, str], *args: str, script: str | None = None) -> subprocess.CompletedProcess:
    command = [str(ROOT / "scripts" / script), *args] if script else [sys.executable, str(ROOT / "manage.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)


class FreshDatabase:
    """A new, empty database beside the test database, and the environment that points at it."""

    def __init__(self, tmp_path: Path):
        self.env = {**os.environ, "DJANGO_ENV": "test"}
        self.name = None
        if connection.vendor == "postgresql":
            s = connection.settings_dict
            self.name = f"restore_drill_{uuid.uuid4().hex[:12]}"
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
            auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
            self.env["DATABASE_URL"] = f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{self.name}"
        else:
            self.env.pop("DATABASE_URL", None)
            self.env["SQLITE_PATH"] = str(tmp_path / "restored" / "db.sqlite3")

    def drop(self) -> None:
        if self.name:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture
def fresh(tmp_path):
    database = FreshDatabase(tmp_path)
    yield database
    database.drop()


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_verifies_end_to_end_against_a_checkpoint(tmp_path, fresh, group_a, alice, pat):
    seeded_methods()
    batch = batch_at_group(group_a, pat, grams="30")
    member = member_in(group_a)
    for grams in ("1", "2.5"):
        services.distribution_record(member=member, batch=batch, grams=D(grams), by=alice, idempotency_key=key())
    audit_log(action="test.staff_change", actor=alice, ip_address="192.0.2.80")
    call_command("checkpoint", "--generate-key", str(tmp_path / "k"), stdout=StringIO())
    call_command("checkpoint", "--key", str(tmp_path / "k"), "--output", str(tmp_path / "c.json"), stderr=StringIO())
    entries = LedgerEntry.objects.count()

    call_command("backup", str(tmp_path / "backup.dump"), stdout=StringIO())
    with pytest.raises(CommandError, match="never written over"):
        call_command("backup", str(tmp_path / "backup.dump"), stdout=StringIO())

    restored = manage(fresh.env, str(tmp_path / "backup.dump"), script="restore")
    assert restored.returncode == 0, restored.stderr
    assert "Restored" in restored.stdout
    check = ("--checkpoint", str(tmp_path / "c.json"), "--public-key", str(tmp_path / "k.pub"))
    ledger = manage(fresh.env, "verify_ledger", "--jobs", "1", "--quiet", *check)
    assert ledger.returncode == 0, ledger.stderr
    assert f"{entries} entries" in ledger.stdout and "extends the checkpoint" in ledger.stdout
    audit = manage(fresh.env, "verify_audit", *check)
    assert audit.returncode == 0, audit.stderr
    assert "extends the checkpoint" in audit.stdout

    # The copy is now a database in use: a second restore into it is refused, and says why.
    again = manage(fresh.env, str(tmp_path / "backup.dump"), script="restore")
    assert again.returncode != 0 and "is not empty" in again.stderr and "new, empty database" in again.stderr


@pytest.mark.django_db
def test_a_restore_into_a_database_that_is_not_empty_is_refused(tmp_path):
    (tmp_path / "backup.dump").write_bytes(b"whatever")
    with pytest.raises(CommandError, match=r"is not empty \(\d+ tables"):
        call_command("restore", str(tmp_path / "backup.dump"), stdout=StringIO())
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", str(tmp_path / "nothing.dump"), stdout=StringIO())
