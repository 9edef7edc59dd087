"""CPU time, read from ``/proc``: a process's own, and a PostgreSQL backend's on this machine.

On a shared machine the wall clock measures the queue for the CPU as much as the work; CPU time
per operation, ours and the database's added up, is the figure that holds under load. Where
``/proc`` cannot be read (another machine's database, another system) the figures are None.
"""

from __future__ import annotations

from pathlib import Path


def cpu_seconds(pid: int | None) -> float | None:
    """User and system CPU time of process ``pid`` so far, or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in ticks of 1/100 s


def django_backend_pid() -> int | None:
    """The PostgreSQL backend of Django's default connection, or None on another database."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]
