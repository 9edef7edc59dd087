"""Recompute the audit trail's hash chain; exit non-zero naming the first broken record."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compassionclub.audit import checkpoints
from compassionclub.audit.services import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain: any edited, deleted or inserted record is reported."

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint", metavar="FILE",
                            help="Also prove the trail still extends this signed checkpoint (manage.py checkpoint).")
        parser.add_argument("--public-key", help="Public key of the checkpoint; default: CHECKPOINT_PUBLIC_KEY_FILE.")

    def handle(self, *args, **options):
        payload = checkpoints.read_options(options)
        count, broken, why = audit_verify()
        if why:
            where = f"record #{broken.seq} (id {broken.pk})" if broken is not None else "the chain head"
            raise CommandError(f"Audit trail broken at {where}: {why}. {count} records before it are intact.")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {count} records."))
        if payload is not None:
            why = checkpoints.audit_extends(payload)
            if why:
                raise CommandError(f"The audit trail does not extend the checkpoint of {payload.get('created_at')}: {why}.")
            self.stdout.write(self.style.SUCCESS(f"The audit trail extends the checkpoint of {payload.get('created_at')}."))
