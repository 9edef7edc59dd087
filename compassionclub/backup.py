"""Backups and restores of the whole database (``manage.py backup``/``restore``, and
``scripts/backup``/``scripts/restore`` around them).

PostgreSQL: ``pg_dump --format=custom`` (compressed, restored table by table with
``pg_restore``), taken in one snapshot while the app keeps running. SQLite: the online backup
API, which copies a consistent snapshot page by page while writers carry on. Neither format is
ever written over an existing file, and a restore goes only into an empty database, so a restore
can never mix two ledgers or overwrite the live one by a slip of the finger. Run
``verify_ledger`` and ``verify_audit`` (with the last checkpoint) on what was restored.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import connections


class BackupError(Exception):
    """Anything that stops a backup or a restore, in words an operator can act on."""


def _vendor(alias: str) -> str:
    return connections[alias].vendor


def _pg_env_and_args(alias: str) -> tuple[dict[str, str], list[str]]:
    s = connections[alias].settings_dict
    env = {**os.environ}
    if s.get("PASSWORD"):
        env["PGPASSWORD"] = s["PASSWORD"]
    args = ["--dbname", s["NAME"], "--username", s["USER"] or "postgres", "--host", s["HOST"] or "localhost",
            "--port", str(s["PORT"] or 5432)]
    return env, args


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (apt-get install postgresql-client, the same major version "
                          "as the server).")
    return path


def _new_file(path: Path) -> Path:
    if path.exists():
        raise BackupError(f"{path} already exists: a backup is never written over another.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def backup(path: str | Path, *, alias: str = "default") -> Path:
    """Write a backup of the database to ``path`` (a new file); returns it."""
    path = _new_file(Path(path))
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    if _vendor(alias) == "postgresql":
        env, args = _pg_env_and_args(alias)
        # A list of arguments, no shell; they come from the settings and the operator's command.
        done = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *args],  # noqa: S603
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    else:
        connection = connections[alias]
        connection.ensure_connection()
        target = sqlite3.connect(partial)
        try:
            # The online backup API, in one step: a consistent snapshot. In WAL mode (settings) the
            # read it holds does not block writers, and a one-step copy is never restarted by
            # their commits, as a copy in steps would be.
            connection.connection.backup(target)
            # The check re-evaluates CHECK constraints, some of which use REGEXP (as Django
            # provides it to its own connections).
            target.create_function("REGEXP", 2, lambda pattern, value: value is not None
                                   and re.search(pattern, str(value)) is not None, deterministic=True)
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError("The copy failed SQLite's integrity check.")
        finally:
            target.close()
    partial.rename(path)  # only a complete backup ever has the name asked for
    return path


def tables_in(alias: str = "default") -> list[str]:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


def restore(path: str | Path, *, alias: str = "default") -> None:
    """Restore the backup at ``path`` into the database ``alias``, which must be empty."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file.")
    name = connections[alias].settings_dict["NAME"]
    tables = tables_in(alias)
    if tables:
        raise BackupError(
            f"The database {name} is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]}): a backup is "
            "restored only into a new, empty database, so that nothing is mixed or overwritten. Create one "
            "(createdb NAME, or a new SQLITE_PATH) and point DATABASE_URL or SQLITE_PATH at it.")
    if _vendor(alias) == "postgresql":
        env, args = _pg_env_and_args(alias)
        connections[alias].close()
        done = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction", *args,  # noqa: S603
                               str(path)], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackupError(f"pg_restore failed, nothing was restored: {done.stderr.strip()}")
        return
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a SQLite backup ({error}).") from error
    connection = connections[alias]
    connection.ensure_connection()
    try:
        source.backup(connection.connection)
    finally:
        source.close()
