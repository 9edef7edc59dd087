"""``manage.py backup FILE``: a consistent backup of the whole database (pg_dump custom format on
PostgreSQL, the online backup API on SQLite), never written over an existing file."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from compassionclub.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the whole database to a new file (restore it with manage.py restore)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The backup to write; it must not exist yet.")

    def handle(self, *args, **options):
        started = time.monotonic()
        try:
            path = backup(options["file"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(
            f"Backup written to {path}: {path.stat().st_size:,} bytes in {time.monotonic() - started:.1f} s."))
