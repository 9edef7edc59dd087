"""One table and one JSON document from the measurements, with the issue's targets beside them."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection

# The targets of the performance issue (#18), on a 2-core machine with PostgreSQL.
RATIO_TARGET = 0.7
ELIGIBILITY_P99_MS = 5.0
PAGE_MS = 200.0
CSV_ROWS_PER_SECOND = 50_000
CSV_PEAK_MB = 150.0
VERIFY_PER_SECOND = 100_000


@dataclass
class Line:
    measure: str
    result: str
    target: str = ""
    met: bool | None = None  # None: no target, reported for the record

    @property
    def mark(self) -> str:
        return {True: "yes", False: "NO", None: ""}[self.met]


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()" if connection.vendor == "postgresql" else "SELECT sqlite_version()")
        db_version = cursor.fetchone()[0]
    try:
        commit = subprocess.run(  # noqa: S603
            ["git", "rev-parse", "--short", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5, check=False  # noqa: S607
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(),
        "os": platform.platform(), "database": connection.vendor, "database_version": db_version.split(" on ")[0],
        "commit": commit,
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def throughput_lines(tp: dict) -> list[Line]:
    out: list[Line] = []
    for run in tp["runs"]:
        n, base, ours = run["workers"], run["baseline"], run["ours"]
        out.append(Line(f"distribution_record, {n} worker{'s' if n > 1 else ''}",
                        f"{ours['per_second']:,.0f}/s vs baseline {base['per_second']:,.0f}/s = {run['ratio']:.2f}",
                        f">= {RATIO_TARGET} of baseline" if n > 1 else "",
                        run["ratio"] >= RATIO_TARGET if n > 1 else None))
        if run.get("cpu_ratio"):
            out.append(Line(f"  CPU per distribution, {n} worker{'s' if n > 1 else ''}",
                            f"ours {ours['cpu_ms']} ms vs baseline {base['cpu_ms']} ms = {run['cpu_ratio']:.2f} "
                            "(process and database backend, CPU time)"))
        out.append(Line(f"  latency, {n} worker{'s' if n > 1 else ''}",
                        f"ours p50 {ours['p50_ms']} / p99 {ours['p99_ms']} ms; baseline p50 {base['p50_ms']} / p99 {base['p99_ms']} ms"))
        if "replay" in run:
            replay, rolled_back = run["replay"], run["baseline_rolled_back"]
            statements = f" ({replay['statements']} statements)" if replay.get("statements") else ""
            out.append(Line(f"  our SQL replayed, rolled back, {n} worker{'s' if n > 1 else ''}",
                            f"{replay['per_second']:,.0f}/s{statements} vs baseline rolled back "
                            f"{rolled_back['per_second']:,.0f}/s = {run['replay_ratio']:.2f}"))
            if replay.get("cpu_ms") and rolled_back.get("cpu_ms"):
                out.append(Line(f"  CPU per rolled-back call, {n} worker{'s' if n > 1 else ''}",
                                f"our SQL {replay['cpu_ms']} ms ({replay['client_cpu_ms']} + database {replay['database_cpu_ms']}) "
                                f"vs baseline {rolled_back['cpu_ms']} ms ({rolled_back['client_cpu_ms']} + database "
                                f"{rolled_back['database_cpu_ms']})"))
    return out


def lines_for(results: dict) -> list[Line]:
    out: list[Line] = []
    if results.get("throughput"):
        out += throughput_lines(results["throughput"])
    probe = results.get("overdraw_probe")
    if probe:
        out.append(Line("overdraw probe (8 workers, 2x the stock)",
                        f"{probe['succeeded']} of {probe['attempts']} x 1 mg from {probe['stock_grams']} g; balance {probe['balance_after']} g",
                        "zero overdraw", probe["ok"]))
    el = results.get("eligibility")
    if el:
        constant = el["queries_min"] == el["queries_max"]
        out.append(Line(f"check_eligibility ({el['samples']} members)",
                        f"p50 {el['p50_ms']} ms, p99 {el['p99_ms']} ms, {el['queries_min']}-{el['queries_max']} queries",
                        f"p99 < {ELIGIBILITY_P99_MS:g} ms, constant queries",
                        el["p99_ms"] < ELIGIBILITY_P99_MS and constant))
    for page in results.get("pages", []):
        out.append(Line(f"{page['page']} as {page['as']}", f"{page['median_ms']} ms (max {page['max_ms']}), {page['queries']} queries",
                        f"< {PAGE_MS:g} ms", page["median_ms"] < PAGE_MS))
    ex = results.get("exports")
    if ex:
        days = ex["ledger_csv"].get("days")
        for key, label in (
            ("ledger_csv", f"ledger CSV, {days} days, auditor"),
            ("ledger_csv_group", f"ledger CSV, {days} days, coordinator of one group"),
            ("batch_reports_csv", "batch reports CSV, all batches"),
        ):
            e = ex.get(key)
            if e is None:
                continue
            per_cpu = f" ({e['rows_per_cpu_second']:,.0f} per CPU-second)" if e.get("rows_per_cpu_second") else ""
            out.append(Line(label, f"{e['rows']:,} rows, {e['rows_per_second']:,.0f} rows/s{per_cpu}, peak {e['peak_rss_mb']} MB (whole process)",
                            f">= {CSV_ROWS_PER_SECOND:,} rows/s, < {CSV_PEAK_MB:g} MB",
                            e["rows_per_second"] >= CSV_ROWS_PER_SECOND and e["peak_rss_mb"] < CSV_PEAK_MB))
        pdf = ex["batch_pdf"]
        out.append(Line("batch PDF", f"{pdf['median_ms']} ms, {pdf['queries']} queries, {pdf['bytes']:,} bytes"))
    ver = results.get("verify")
    if ver:
        out.append(Line("verify_ledger", f"{ver['entries']:,} entries in {ver['seconds']} s = {ver['entries_per_second']:,.0f}/s",
                        f">= {VERIFY_PER_SECOND:,}/s, chain and balances OK",
                        ver["ok"] and ver["entries_per_second"] >= VERIFY_PER_SECOND))
    return out


def table(lines: list[Line]) -> str:
    headers = ("measure", "result", "target", "met")
    rows = [(ln.measure, ln.result, ln.target, ln.mark) for ln in lines]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = " | ".join(f"{{:<{w}}}" for w in widths)
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt.format(*headers), rule, *(fmt.format(*r) for r in rows)])


def markdown(lines: list[Line]) -> str:
    out = ["| measure | result | target | met |", "| --- | --- | --- | --- |"]
    out += [f"| {ln.measure.strip()} | {ln.result} | {ln.target} | {ln.mark} |" for ln in lines]
    return "\n".join(out)


def write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=lambda v: str(v) if isinstance(v, Decimal) else repr(v)))
