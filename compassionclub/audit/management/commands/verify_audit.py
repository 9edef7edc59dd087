"""Recompute the audit trail's hash chain; exit non-zero naming the first broken record."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compassionclub.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain: any edited, deleted or inserted record is reported."

    def handle(self, *args, **options):
        count, broken, why = audit_verify()
        if why:
            where = f"record #{broken.seq} (id {broken.pk})" if broken is not None else "the chain head"
            raise CommandError(f"Audit trail broken at {where}: {why}. {count} records before it are intact.")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {count} records."))
