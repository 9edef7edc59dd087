"""``manage.py bench_seed --scale 1``: load the seeded province-scale programme for ``manage.py bench``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from bench.generate import generate
from distributions.verify import verify_ledger


class Command(BaseCommand):
    help = (
        "Write a seeded programme into an empty database: at --scale 1, 50 groups, 50,000 members, "
        "5,000 checked batches and about 2,000,000 hash-chained ledger entries over two years."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Fraction of the full size (default 1).")
        parser.add_argument("--seed", type=int, default=20220401, help="Random seed (default 20220401).")

    def handle(self, *args, scale: float, seed: int, **options):
        try:
            summary = generate(scale=scale, seed=seed, log=self.stdout.write)
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc))
        # The generator writes the tables directly, not through the services, for speed; the
        # ledger's own verification is what says the result is a ledger the services could
        # have written.
        report = verify_ledger()
        if not report.ok:
            raise CommandError(f"The seeded ledger does not verify: {report.summary()}")
        counts = summary["counts"]
        self.stdout.write(self.style.SUCCESS(
            f"Seeded scale {scale}: {counts['groups']:,} groups, {counts['members']:,} members, "
            f"{counts['batches']:,} batches, {counts['entries']:,} ledger entries in {counts['seconds']} s."
        ))
        self.stdout.write(json.dumps(summary["counts"]))
