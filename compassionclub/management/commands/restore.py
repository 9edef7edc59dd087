"""``manage.py restore FILE``: restore a backup made by ``manage.py backup`` into the configured
database, which must be empty; then verify it (verify_ledger, verify_audit, with a checkpoint)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from compassionclub.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup into the configured database, which must be new and empty."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A backup written by manage.py backup.")

    def handle(self, *args, **options):
        started = time.monotonic()
        try:
            restore(options["file"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(
            f"Restored {options['file']} in {time.monotonic() - started:.1f} s. Now run verify_ledger and "
            "verify_audit, each with --checkpoint and the last checkpoint taken before the backup."))
