"""Recompute the ledger's hash chains and balances; exit non-zero naming the first broken entry."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compassionclub.audit import checkpoints
from distributions.checkpoints import ledger_extends
from distributions.verify import verify_ledger


class Command(BaseCommand):
    help = (
        "Recompute every ledger entry's hash and chain link and every balance from the entries. "
        "Exits with status 1 and names the first broken entry after any edit, deletion or insertion."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="Print only the summary line.")
        parser.add_argument("--all", action="store_true", help="List every problem found, not only the first.")
        parser.add_argument(
            "--jobs", type=int, default=None, metavar="N",
            help="Worker processes sharing the chains of a large ledger (default: the number of CPUs; 1: this process only).",
        )
        parser.add_argument("--checkpoint", metavar="FILE",
                            help="Also prove the ledger still extends this signed checkpoint (manage.py checkpoint).")
        parser.add_argument("--public-key", help="Public key of the checkpoint; default: CHECKPOINT_PUBLIC_KEY_FILE.")

    def handle(self, *args, **options):
        def progress(done: int, total: int) -> None:
            if not options["quiet"]:
                self.stderr.write(f"  {done:,} / {total:,} entries checked")

        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1.")
        payload = checkpoints.read_options(options)
        report = verify_ledger(progress=progress, jobs=options["jobs"])
        if options["all"] and not report.ok:
            for problem in sorted(report.problems, key=lambda p: (p.entry_id is None, p.entry_id or 0)):
                self.stderr.write(f"  {problem}")
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
        if payload is not None:
            problems = ledger_extends(payload)
            if problems:
                for problem in problems[1:] if options["all"] else []:
                    self.stderr.write(f"  {problem}")
                raise CommandError(f"The ledger does not extend the checkpoint of {payload.get('created_at')}: "
                                   f"{problems[0]} ({len(problems)} chain(s) differ).")
            self.stdout.write(self.style.SUCCESS(
                f"The ledger extends the checkpoint of {payload.get('created_at')} "
                f"({len(payload['ledger']['chains'])} chains)."))
