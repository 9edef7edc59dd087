"""``manage.py bench``: how far the ledger is from the database's own speed, and that nothing was lost.

Run it on a database seeded by ``manage.py bench_seed`` (never on one with real members: it
records distributions). It prints one table and writes the same numbers as JSON. It exits
non-zero only when something was lost or overdrawn (the overdraw probe or ``verify_ledger``
fails); a missed performance target is reported in the table, not as a failure.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench import measure, report, throughput
from bench.generate import ROOT_USERNAME

SECTIONS = ("throughput", "eligibility", "pages", "exports", "verify")


class Command(BaseCommand):
    help = (
        "Benchmark distribution_record against a plain-SQL baseline from 1 and 8 worker processes, "
        "check_eligibility, the admin changelists and desk, the exports and verify_ledger; print one "
        "table and write JSON. Needs a database seeded by bench_seed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=10.0, help="Length of each throughput run (default 10).")
        parser.add_argument("--workers", default="1,8", help="Worker process counts to compare (default 1,8).")
        parser.add_argument("--samples", type=int, default=500, help="Members to check eligibility for (default 500).")
        parser.add_argument("--repeat", type=int, default=5, help="Timed requests per admin page (default 5).")
        parser.add_argument("--export-days", type=int, default=90, help="Days of ledger in the CSV export (default 90).")
        parser.add_argument("--only", default=",".join(SECTIONS), help=f"Sections to run, of {', '.join(SECTIONS)}.")
        parser.add_argument("--json", dest="json_path", help="Where to write the JSON (default var/bench/<database>-<time>.json).")
        parser.add_argument("--workdir", help="Where the exported files go (default var/bench).")
        parser.add_argument("--seed", type=int, default=20220401, help="Seed for the members sampled (default 20220401).")

    def handle(self, *args, **o):
        sections = [s.strip() for s in o["only"].split(",") if s.strip()]
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise CommandError(f"Unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}.")
        try:
            workers = tuple(int(w) for w in o["workers"].split(",") if w.strip())
        except ValueError:
            raise CommandError("--workers takes comma-separated whole numbers, e.g. 1,8.")
        if not workers or min(workers) < 1 or o["seconds"] <= 0:
            raise CommandError("--workers needs counts of at least 1 and --seconds must be positive.")
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            raise CommandError("The benchmark forks worker processes; use a database file or PostgreSQL, not an in-memory SQLite.")
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(username=ROOT_USERNAME).exists():
            raise CommandError("This database was not seeded for the benchmark: run manage.py bench_seed first, on a database of its own.")

        document: dict = {"machine": report.machine(), "started_at": dt.datetime.now(dt.UTC).isoformat(),
                          "load_before": report.load_average(), "options": {k: o[k] for k in (
                              "seconds", "workers", "samples", "repeat", "export_days", "only", "seed")}}
        self.stdout.write(f"bench on {document['machine']['database']} {document['machine']['database_version']}, "
                          f"{document['machine']['cores']} cores, load {document['load_before']}")
        results: dict = {}
        log = self.stdout.write
        workdir = Path(o["workdir"]) if o["workdir"] else Path(settings.BASE_DIR) / "var" / "bench"
        plan = [
            ("throughput", "distribution throughput, ours and our SQL replayed against the baseline",
             lambda: results.update(throughput=throughput.measure_throughput(seconds=o["seconds"], workers=workers, log=log),
                                    overdraw_probe=throughput.overdraw_probe(log=log))),
            ("eligibility", "check_eligibility", lambda: results.update(eligibility=measure.measure_eligibility(samples=o["samples"], seed=o["seed"]))),
            ("pages", "admin changelists and the desk", lambda: results.update(pages=measure.measure_pages(repeat=o["repeat"]))),
            ("exports", "CSV exports and the batch PDF",
             lambda: results.update(exports=measure.measure_exports(days=o["export_days"], workdir=workdir))),
            ("verify", "verify_ledger over the whole ledger", lambda: results.update(verify=measure.measure_verify())),
        ]
        chosen = [step for step in plan if step[0] in sections]
        for i, (_key, title, step) in enumerate(chosen, 1):
            self.stdout.write(f"[{i}/{len(chosen)}] {title} ...")
            t = time.perf_counter()
            try:
                step()
            except RuntimeError as exc:
                raise CommandError(f"{title}: {exc}")
            self.stdout.write(f"      done in {time.perf_counter() - t:.1f} s")

        lines = report.lines_for(results)
        document.update(results=results, load_after=report.load_average(), finished_at=dt.datetime.now(dt.UTC).isoformat(),
                        table=[line.__dict__ | {"met": line.met} for line in lines], markdown=report.markdown(lines))
        path = Path(o["json_path"]) if o["json_path"] else (
            Path(settings.BASE_DIR) / "var" / "bench" / f"{connection.vendor}-{dt.datetime.now():%Y%m%d-%H%M%S}.json")
        report.write_json(path, document)
        self.stdout.write("")
        self.stdout.write(report.table(lines))
        self.stdout.write("")

        targets = [line for line in lines if line.met is not None]
        met = sum(1 for line in targets if line.met)
        lost = (results.get("overdraw_probe") and not results["overdraw_probe"]["ok"]) or (
            results.get("verify") and not results["verify"]["ok"])
        runs = results.get("throughput", {}).get("runs", [])
        ratios = ", ".join(f"x{r['workers']} {r['ratio']:.2f}" for r in runs)
        replayed = ", ".join(f"x{r['workers']} {r['replay_ratio']:.2f}" for r in runs if "replay_ratio" in r)
        summary = (f"bench {connection.vendor}: {met}/{len(targets)} targets met"
                   + (f"; ours/baseline {ratios}" if ratios else "")
                   + (f"; our SQL/baseline, rolled back, {replayed}" if replayed else "")
                   + (f"; ledger {'verified' if results['verify']['ok'] else 'BROKEN'} ({results['verify']['entries']:,} entries)"
                      if results.get("verify") else "")
                   + f"; load {document['load_before']} -> {document['load_after']}; JSON {path}")
        if lost:
            raise CommandError(summary + ". Stock was overdrawn or the ledger does not verify.")
        self.stdout.write(self.style.SUCCESS(summary) if met == len(targets) else self.style.WARNING(summary))
