"""The read paths: eligibility, admin changelists and the desk, exports, ``verify_ledger``.

Every timing is taken on a warmed-up path (one untimed call first) and reported as the median
(and p99 where there are enough samples) with the number of SQL queries it ran. Exports run in
a child process (``manage.py bench_export``, which times ``manage.py export`` itself) so their peak memory is the whole process's maximum
resident set, as the operating system counts it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.generate import AUDITOR_USERNAME, ROOT_USERNAME
from distributions.eligibility import check_eligibility
from distributions.exports.base import ExportParams
from distributions.exports.services import export_run
from distributions.verify import verify_ledger
from members.models import Member, MemberGroup
from testing_results.models import Batch


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else 0.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _timed(fn, repeat: int) -> tuple[list[float], list[int], object]:
    """Run ``fn`` once untimed, then ``repeat`` times, recording seconds and query counts."""
    result = fn()
    times, queries = [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        queries.append(len(ctx.captured_queries))
    return times, queries, result


# Eligibility -------------------------------------------------------------------------------------


def measure_eligibility(*, samples: int, seed: int) -> dict:
    """``check_eligibility`` for ``samples`` members picked at random (seeded), group loaded."""
    ids = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("id").values_list("id", flat=True))
    picked = random.Random(seed).sample(ids, k=min(samples, len(ids)))
    members = list(Member.objects.select_related("group").filter(pk__in=picked))
    check_eligibility(members[0])
    times, queries = [], []
    for member in members:
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            check_eligibility(member)
            times.append(time.perf_counter() - t)
        queries.append(len(ctx.captured_queries))
    return {"samples": len(members), "p50_ms": _ms(_pct(times, 50)), "p99_ms": _ms(_pct(times, 99)),
            "queries_min": min(queries), "queries_max": max(queries)}


# Admin pages and the desk -----------------------------------------------------------------------


def _busiest_group() -> MemberGroup:
    return (
        MemberGroup.objects.filter(coordinators__isnull=False)
        .annotate(n=Count("members", distinct=True)).order_by("-n", "id").first()
    )


def measure_pages(*, repeat: int) -> list[dict]:
    """Ledger entries, members and batches changelists and a desk lookup, as a coordinator of the
    busiest group and as a superuser."""
    group = _busiest_group()
    coordinator = group.coordinators.order_by("id").first()
    root = get_user_model().objects.get(username=ROOT_USERNAME)
    member_code = Member.objects.filter(group=group, status=Member.Status.ACTIVE).order_by("id").values_list("code", flat=True).first()
    pages = [
        ("ledger entries", "get", reverse("admin:distributions_ledgerentry_changelist"), None),
        ("members", "get", reverse("admin:members_member_changelist"), None),
        ("batches", "get", reverse("admin:testing_results_batch_changelist"), None),
        ("desk lookup", "post", reverse("admin:distributions_desk"), {"code": member_code}),
    ]
    out = []
    for who, user in (("coordinator", coordinator), ("superuser", root)):
        client = Client()
        client.force_login(user)
        for name, method, url, data in pages:
            def fetch(method=method, url=url, data=data, client=client, label=f"{name} as {who}"):
                # A POST redirects (to the desk showing the member): the lookup is the POST and that page.
                response = client.post(url, data, follow=True) if method == "post" else client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(f"{label}: HTTP {response.status_code} from {url}")
                return response
            times, queries, _response = _timed(fetch, repeat)
            out.append({"page": name, "as": who, "median_ms": _ms(statistics.median(times)), "max_ms": _ms(max(times)),
                        "queries": max(queries)})
    return out


# Exports -----------------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The environment that points a child process at this very database."""
    env = dict(os.environ)
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = s.get("USER") or ""
        if s.get("PASSWORD"):
            auth += f":{s['PASSWORD']}"
        env["DATABASE_URL"] = f"postgres://{auth}@{s.get('HOST') or 'localhost'}:{s.get('PORT') or 5432}/{s['NAME']}"
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(s["NAME"])
    return env


def _run_export(args: list[str], output: Path, *, trailer_lines: int = 0) -> dict:
    """``manage.py export ARGS`` in a child process (``bench_export``, which times the export
    itself); its peak resident set, as the operating system counts it."""
    cmd = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench_export", "--", *args, "--output", str(output)]
    errors = output.with_suffix(".stderr")
    timing = output.with_suffix(".json")
    with errors.open("wb") as err, timing.open("wb") as out:
        proc = subprocess.Popen(cmd, env=_child_env(), stdout=out, stderr=err)  # noqa: S603
        # wait4 gives this child's own resource usage: its peak resident set (kilobytes on Linux).
        _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"export {' '.join(args)} failed: {errors.read_text()[-2000:]}")
    with output.open("rb") as fh:
        lines = sum(1 for _ in fh)
    rows = max(0, lines - 1 - trailer_lines)  # the header, and the ledger's summary line
    return {**json.loads(timing.read_text()), "rows": rows, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def measure_exports(*, days: int, workdir: Path) -> dict:
    """The ledger CSV for the last ``days`` days (as the auditor and as a coordinator of the
    busiest group) and the CSV of every batch's findings, each in a fresh child process that
    times the export itself; the batch PDF of the latest released batch, in process. Rows per
    CPU-second add the child's CPU time and its database backend's, so they hold on a loaded
    machine where the wall clock does not."""
    workdir.mkdir(parents=True, exist_ok=True)
    today = timezone.localdate()
    period = ["--from", (today - dt.timedelta(days=days)).isoformat(), "--to", today.isoformat()]
    ledger = _run_export(["ledger", "--user", AUDITOR_USERNAME, *period], workdir / "ledger.csv", trailer_lines=1)
    coordinator = _busiest_group().coordinators.order_by("id").first()
    ledger_group = _run_export(["ledger", "--user", coordinator.get_username(), *period], workdir / "ledger-group.csv",
                               trailer_lines=1)
    reports = _run_export(["batch_reports", "--user", AUDITOR_USERNAME], workdir / "batch_reports.csv")
    for result in (ledger, ledger_group, reports):
        rows = result["rows"]
        result["rows_per_second"] = round(rows / max(result["seconds"], 0.001), 1)
        if result.get("database_cpu_seconds") is not None:
            cpu = result["client_cpu_seconds"] + result["database_cpu_seconds"]
            result["rows_per_cpu_second"] = round(rows / max(cpu, 0.001), 1)
    auditor = get_user_model().objects.get(username=AUDITOR_USERNAME)
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    batch = Batch.objects.filter(status=Batch.Status.RELEASED).order_by("-id").first()
    times, queries, output = _timed(
        lambda: export_run(identifier="batch_report", user=auditor, params=ExportParams(batch_id=batch.pk), fmt="pdf"), 2
    )
    pdf = {"batch": batch.code, "median_ms": _ms(statistics.median(times)), "queries": max(queries),
           "bytes": len(output.content or b"")}
    return {"ledger_csv": ledger | {"days": days}, "ledger_csv_group": ledger_group | {"days": days},
            "batch_reports_csv": reports, "batch_pdf": pdf}


# verify_ledger ----------------------------------------------------------------------------------


def measure_verify() -> dict:
    report = verify_ledger()
    return {"ok": report.ok, "entries": report.entries, "chains": report.chains, "seconds": round(report.seconds, 2),
            "entries_per_second": round(report.entries / report.seconds, 1) if report.seconds else 0.0,
            "summary": report.summary()}
