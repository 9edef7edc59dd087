"""Recompute the ledger's hash chains and balances; exit non-zero naming the first broken entry."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, **options):
        def progress(done: int, total: int) -> None:
            if not options["quiet"]:
                self.stderr.write(f"  {done:,} / {total:,} entries checked")

        if options["jobs"] is not None and options["jobs"] < 1:
            raise CommandError("--jobs must be at least 1.")
        report = verify_ledger(progress=progress, jobs=options["jobs"])
        if options["all"] and not report.ok:
            for problem in sorted(report.problems, key=lambda p: (p.entry_id is None, p.entry_id or 0)):
                self.stderr.write(f"  {problem}")
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
