"""``manage.py purge``: remove what the retention schedule (settings.RETENTION) says is due, kind
by kind, with progress and a one-line summary; the purge is recorded in the audit trail.
``--dry-run`` prints what would go and changes nothing. Run it daily."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from compassionclub import retention


class Command(BaseCommand):
    help = "Remove records past their retention period (settings.RETENTION); --dry-run only says what would go."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print what would go, per kind; change nothing.")

    def handle(self, *args, **options):
        now = timezone.now()
        plan = retention.purge_plan(now)
        for rule in retention.RULES:
            self.stdout.write(f"{rule.label} (kept {retention.kept_for(rule.key)}): "
                              f"{plan[rule.key]:,} {'would go' if options['dry_run'] else 'due'}")
        total = sum(plan.values())
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {total:,} records would go; nothing was changed.")
            return

        def progress(rule, done: int, of: int) -> None:
            self.stderr.write(f"  {rule.label}: {done:,} / {of:,}")

        done = retention.purge(now=now, progress=progress)
        parts = ", ".join(f"{count:,} {rule.label}" for rule in retention.RULES if (count := done[rule.key]))
        self.stdout.write(self.style.SUCCESS(
            f"Purged {sum(done.values()):,} records{': ' + parts if parts else ''}; recorded in the audit trail."))
