"""``manage.py bench_export ARGS...``: run ``manage.py export ARGS...`` and print, as JSON on
standard output, how long the export itself took: the bench's child process for exports.

The bench runs each export in a child of its own so that the peak memory it reports is a whole
process's; timing the export inside that child leaves out Python's and Django's start-up, which
at a small scale took longer than the export and could not be subtracted reliably from outside.
Besides the wall-clock time it reports the child's own CPU time and, on a PostgreSQL server on
the same machine, its database backend's, so the figure can be read on a loaded machine too.
"""

from __future__ import annotations

import json
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from bench.cpu import cpu_seconds, django_backend_pid
from distributions.exports.base import registry


class Command(BaseCommand):
    help = "Run manage.py export with the given arguments and print its own timing as JSON (the bench's child)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export_args", nargs="+", help="The arguments of manage.py export.")

    def handle(self, *args, export_args: list[str], **options) -> None:
        # The export modules are imported before the clock starts, as a running web worker has
        # them: importing them is start-up too, and took a third of a ten-thousand-row export.
        registry()
        pid = django_backend_pid()
        server_before = cpu_seconds(pid)
        cpu_before, started = time.process_time(), time.perf_counter()
        call_command("export", *export_args)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        server_after = cpu_seconds(pid)
        server = server_after - server_before if server_before is not None and server_after is not None else None
        self.stdout.write(json.dumps({
            "seconds": round(seconds, 3), "client_cpu_seconds": round(cpu, 3),
            "database_cpu_seconds": round(server, 2) if server is not None else None,
        }))
