"""Distribution throughput: ``distribution_record`` against the same transaction in plain SQL.

Each worker is a separate process with its own database connection (forked, as gunicorn's
workers are), so the comparison measures the database and the code, not the interpreter lock.
Worker ``i`` is a coordinator at drop-in ``i``: its own group's store and its own batch, its
group's eligible members in turn, 1 mg at a time (the amount does not change the work, and it
keeps every member far inside the allowance however long the run).

The baseline is what the database can do: psycopg (or sqlite3) on the same tables, one
transaction that locks the store's balance row (the chain head), sums the member's window for
the substance, inserts the entry hashed with the ledger's own ``entry_hash`` onto that chain,
and moves both balances. ``distribution_record`` does that plus everything the service owes a
coordinator: the member lock, eligibility, the coordinator check, the batch's status.

The overdraw probe gives one store exactly ``PROBE_MG`` milligrams of a batch and lets eight
workers ask for twice that, 1 mg at a time: exactly ``PROBE_MG`` must succeed, the rest be
refused ``insufficient_stock``, and the balance end at zero.

Between the two sits **our SQL replayed**: in each worker, one real ``distribution_record`` call
is captured (``connection.execute_wrapper``: every statement and its parameters, exactly as
Django hands them to the driver, with DEBUG off) and then sent again and again through a bare
driver connection, with no Django and no Python of ours in the loop: each statement executed
with its captured parameters and its rows fetched, as Django fetches them. The replayed
statements carry the captured call's idempotency key, chain sequence and hash, so the captured
call itself is rolled back instead of committed (nothing of it reaches the ledger) and so is
every replayed transaction: ``verify_ledger`` at the end of the bench still sees every chain
whole. A rolled-back transaction skips the commit (on PostgreSQL the WAL flush, on SQLite the
journal write), so the replay is set against the **baseline rolled back**: the same baseline
transaction ended by ROLLBACK. Replayed against rolled-back baseline is the database's cost of
our statements against the hand-written ones; ours against replayed is what Python, Django and
the commit add.

Fair terms for the replay. Its connection is opened the way Django opens its own, from the
same settings: on PostgreSQL, server-side binding (psycopg's ``Cursor``) when the settings turn
``server_side_binding`` on, else client-side binding (``ClientCursor``); the settings'
``prepare_threshold`` (absent, Django passes None: nothing is prepared); the session time zone
Django sets. On SQLite, the settings' ``init_command`` pragmas, the ``BEGIN IMMEDIATE`` Django
sends (captured with the rest), and ``%s`` turned into ``?`` as Django's cursor does. Every
runner makes ``WARMUP_OPS`` calls before the clock starts, so with the project's threshold of 2
every replayed statement is prepared before it is timed, as Django's are. psycopg's
``rollback()`` deallocates every prepared statement of the session, so the rolled-back runners
send their ROLLBACK on the libpq connection underneath, which keeps them (``_pg_rollback``);
ended by ``rollback()`` the replay would plan every statement on every call and deallocate them
all after it. The baseline keeps psycopg's defaults, committed or rolled back: server-side
binding, a statement prepared from its fifth execution, two calls into the timed run. The
statements the call sends outside its transaction, if any, are replayed inside it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import re
import sqlite3
import threading
import time
import traceback
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count, Sum
from django.utils import timezone

from bench.cpu import cpu_seconds, django_backend_pid
from bench.generate import ADMIN_USERNAME
from bench.ledger_play import Row, _hash
from compassionclub.errors import ServiceError
from distributions.models import Account, AllowancePolicy, Balance, LedgerEntry, chain_name
from distributions.services import distribution_record, manifest_receive, manifest_send, system_account
from members.models import Member, MemberGroup
from testing_results.models import Batch

GRAMS = Decimal("0.001")
PROBE_MG = 200
WARMUP_OPS = 3


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Lane:
    """One drop-in: a group's store, one batch it holds, its coordinator and eligible members."""

    group_id: int
    store_id: int
    members_account_id: int
    batch_id: int
    substance_id: int
    coordinator_id: int
    member_ids: tuple[int, ...]
    limit_grams: Decimal
    window_days: int


# Setting up the lanes ---------------------------------------------------------------------------


def _policy(substance_id: int) -> tuple[Decimal, int]:
    policy = AllowancePolicy.objects.filter(substance_id=substance_id, group__isnull=True).first()
    return (policy.max_grams, policy.window_days) if policy else (Decimal("14.000"), 7)


def _eligible_members(group_id: int, substance_id: int, limit: Decimal, window_days: int, margin: Decimal) -> list[int]:
    now = timezone.now()
    candidates = list(
        Member.objects.filter(
            group_id=group_id, status=Member.Status.ACTIVE, renewal_due__gte=timezone.localdate(), consent_given_at__lte=now
        ).order_by("id").values_list("id", flat=True)
    )
    used = dict(
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.DISTRIBUTION, member_id__in=candidates, batch__substance_id=substance_id,
            occurred_at__gt=now - dt.timedelta(days=window_days), reversed_by__isnull=True,
        ).values("member_id").annotate(used=Sum("grams")).values_list("member_id", "used")
    )
    return [m for m in candidates if Decimal(used.get(m) or 0) + margin <= limit]


def _freshest_first(lane: Lane) -> Lane:
    """The lane with its members reordered: fewest distributions inside the window first. Each
    run hands out to members no earlier run served, so every run reads the same short windows
    (a run that reused the last one's members would read its hundreds of 1 mg entries)."""
    since = timezone.now() - dt.timedelta(days=lane.window_days)
    recent = dict(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION, member_id__in=lane.member_ids, occurred_at__gt=since)
        .values("member_id").annotate(n=Count("id")).values_list("member_id", "n")
    )
    return replace(lane, member_ids=tuple(sorted(lane.member_ids, key=lambda m: (recent.get(m, 0), m))))


def _stock_batches(exclude: set[int], need: Decimal, not_held_by: int | None = None) -> list[tuple[int, int]]:
    """Released batches with stock left in the central store, fullest first; with
    ``not_held_by``, only batches that store has never held."""
    central = Account.objects.get(kind=Account.Kind.CENTRAL)
    qs = Balance.objects.filter(account=central, batch__status=Batch.Status.RELEASED, grams__gte=need).exclude(batch_id__in=exclude)
    if not_held_by is not None:
        qs = qs.exclude(batch_id__in=Balance.objects.filter(account_id=not_held_by).values("batch_id"))
    return list(qs.order_by("-grams", "-batch_id").values_list("batch_id", "batch__substance_id")[:64])


def _admin():
    try:
        return get_user_model().objects.get(username=ADMIN_USERNAME)
    except get_user_model().DoesNotExist:
        raise RuntimeError("No benchmark staff found: seed the database with manage.py bench_seed first.")


def prepare_lanes(count: int, *, grams_each: Decimal, fresh: bool = False) -> list[Lane]:
    """``count`` drop-ins, each with its own group and a batch moved from the central store
    (with ``fresh``, a batch the group's store never held, so it holds exactly ``grams_each``)."""
    admin = _admin()
    members_account = Account.objects.get(kind=Account.Kind.MEMBERS)
    groups = list(MemberGroup.objects.filter(is_active=True, coordinators__isnull=False).distinct().order_by("id"))
    lanes: list[Lane] = []
    used_batches: set[int] = set()
    for group in groups:
        if len(lanes) == count:
            break
        coordinator = group.coordinators.order_by("id").first()
        store_id = Account.objects.get_or_create(kind=Account.Kind.GROUP, group=group)[0].pk
        for batch_id, substance_id in _stock_batches(used_batches, grams_each, store_id if fresh else None):
            limit, days = _policy(substance_id)
            members = _eligible_members(group.pk, substance_id, limit, days, margin=Decimal("1.000"))
            if not members:
                continue
            batch = Batch.objects.get(pk=batch_id)
            # Stock reaches the group as it always does: a manifest the group's coordinator receives.
            manifest = manifest_send(batch=batch, from_store=system_account(Account.Kind.CENTRAL),
                                     to_store=Account.objects.get(pk=store_id), grams=grams_each, packages=1, by=admin,
                                     idempotency_key=f"bench-stock-{uuid.uuid4().hex[:16]}")
            manifest_receive(manifest=manifest, grams_received=grams_each, by=coordinator)
            # The members' account holds no row for a batch no member has received yet. Ours
            # creates it on the first distribution (an upsert); the baseline moves it with a plain
            # UPDATE, which would then move nothing and leave the ledger out of balance.
            Balance.objects.get_or_create(account=members_account, batch_id=batch_id, defaults={"internal": False})
            lanes.append(Lane(group.pk, store_id, members_account.pk, batch_id, substance_id, coordinator.pk,
                              tuple(members), limit, days))
            used_batches.add(batch_id)
            break
    if not lanes:
        raise RuntimeError(
            f"No group with eligible members could be given {grams_each} g of a released batch from the central "
            "store (each run uses up some): seed a fresh database with manage.py bench_seed."
        )
    return lanes


# The two transactions ---------------------------------------------------------------------------


class Ours:
    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.by = get_user_model().objects.get(pk=lane.coordinator_id)
        self.members = Member.objects.in_bulk(list(lane.member_ids))
        self.batch = Batch.objects.get(pk=lane.batch_id)

    def run(self, member_id: int, key: str) -> None:
        try:
            distribution_record(member=self.members[member_id], batch=self.batch, grams=GRAMS, by=self.by, idempotency_key=key)
        except ServiceError as exc:
            raise Refused(exc.code)

    def backend_pid(self) -> int | None:
        return django_backend_pid()

    def close(self) -> None:
        connections.close_all()


class _DriverRunner:
    """A runner on a bare driver connection (``self.conn``, ``self.vendor``) of its own."""

    def backend_pid(self) -> int | None:
        return self.conn.info.backend_pid if self.vendor == "postgresql" else None

    def close(self) -> None:
        self.conn.close()
        connections.close_all()


class Baseline(_DriverRunner):
    """The distribution transaction with a bare driver connection and hand-written SQL."""

    def __init__(self, lane: Lane, *, commit: bool = True) -> None:
        self.lane = lane
        self.vendor = connection.vendor
        q = connection.ops.quote_name
        entry, balance, batch = (q(m._meta.db_table) for m in (LedgerEntry, Balance, Batch))
        fields = [f for f in LedgerEntry._meta.concrete_fields if not f.primary_key]
        self.attnames = [f.attname for f in fields]
        self.datetime_positions = [i for i, f in enumerate(fields) if f.get_internal_type() == "DateTimeField"]
        lock = " FOR UPDATE" if self.vendor == "postgresql" else ""
        self.sql = {
            "lock": f"SELECT id, grams, last_seq, last_hash FROM {balance} WHERE account_id = %s AND batch_id = %s{lock}",  # noqa: S608
            "window": (
                f"SELECT COALESCE(SUM(e.grams), 0) FROM {entry} e INNER JOIN {batch} t ON t.id = e.batch_id "  # noqa: S608
                f"WHERE e.member_id = %s AND e.kind = 'distribution' AND e.occurred_at > %s AND e.occurred_at <= %s "
                f"AND t.substance_id = %s AND NOT EXISTS (SELECT 1 FROM {entry} r WHERE r.reverses_id = e.id)"
            ),
            "insert": f"INSERT INTO {entry} ({', '.join(q(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})",  # noqa: S608
            "head": f"UPDATE {balance} SET grams = ROUND(grams - %s, 3), last_seq = %s, last_hash = %s WHERE id = %s",  # noqa: S608
            "out": f"UPDATE {balance} SET grams = ROUND(grams + %s, 3) WHERE account_id = %s AND batch_id = %s",  # noqa: S608
        }
        params = connection.settings_dict
        if self.vendor == "postgresql":
            import psycopg

            self.conn = psycopg.connect(
                dbname=params["NAME"], user=params.get("USER") or None, password=params.get("PASSWORD") or None,
                host=params.get("HOST") or None, port=params.get("PORT") or None,
            )
        elif self.vendor == "sqlite":
            self.sql = {k: v.replace("%s", "?") for k, v in self.sql.items()}
            self.conn = sqlite3.connect(str(params["NAME"]), isolation_level=None, timeout=30)
        else:
            raise RuntimeError(f"No baseline for {self.vendor}.")
        self.chain = chain_name(lane.store_id, lane.batch_id)
        self.end = "COMMIT" if commit else "ROLLBACK"

    def _adapt(self, values: list, *, entry: bool = False) -> list:
        if self.vendor == "sqlite":
            values = [str(v) if isinstance(v, Decimal) else v for v in values]
            for i in self.datetime_positions if entry else ():
                values[i] = connection.ops.adapt_datetimefield_value(values[i])
        return values

    def _dt(self, value: dt.datetime):
        return connection.ops.adapt_datetimefield_value(value) if self.vendor == "sqlite" else value

    def run(self, member_id: int, key: str) -> None:
        lane, sql = self.lane, self.sql
        cur = self.conn.cursor()
        if self.vendor == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        try:
            now = timezone.now()
            cur.execute(sql["lock"], (lane.store_id, lane.batch_id))
            balance_id, held, seq, prev = cur.fetchone()
            cur.execute(sql["window"], (member_id, self._dt(now - dt.timedelta(days=lane.window_days)), self._dt(now), lane.substance_id))
            used = cur.fetchone()[0]
            held, used = (v if isinstance(v, Decimal) else Decimal(repr(v)) for v in (held, used))
            if held < GRAMS:
                raise Refused("insufficient_stock")
            if used + GRAMS > lane.limit_grams:
                raise Refused("over_allowance")
            r = Row()
            r.kind, r.batch_id, r.from_account_id, r.to_account_id = LedgerEntry.Kind.DISTRIBUTION, lane.batch_id, lane.store_id, lane.members_account_id
            r.grams, r.member_id, r.recorded_by_id, r.recorded_at, r.occurred_at = GRAMS, member_id, lane.coordinator_id, now, now
            r.idempotency_key, r.reason, r.reverses_id = key, "", None
            r.chain, r.chain_seq, r.prev_hash = self.chain, seq + 1, prev
            r.hash = _hash(r)
            cur.execute(sql["insert"], self._adapt([getattr(r, a) for a in self.attnames], entry=True))
            cur.execute(sql["head"], self._adapt([GRAMS, r.chain_seq, r.hash, balance_id]))
            cur.execute(sql["out"], self._adapt([GRAMS, lane.members_account_id, lane.batch_id]))
            if cur.rowcount != 1:
                raise RuntimeError(f"The members' account has no balance row for batch {lane.batch_id}: prepare_lanes makes it.")
        except BaseException:
            self._end("ROLLBACK")
            raise
        self._end(self.end)

    def _end(self, verb: str) -> None:
        if self.vendor == "sqlite":
            self.conn.execute(verb)
        elif verb == "COMMIT":
            self.conn.commit()
        else:
            _pg_rollback(self.conn)


def _pg_rollback(conn) -> None:
    """ROLLBACK that keeps the session's prepared statements. psycopg's ``rollback()`` forgets
    them all (it cannot tell whether the transaction dropped what they refer to) and deallocates
    them, so a runner that rolls back every call would never run a prepared statement; PostgreSQL
    itself keeps them, so the ROLLBACK goes to the libpq connection underneath."""
    from psycopg import pq

    if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        return
    result = conn.pgconn.exec_(b"ROLLBACK")
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise RuntimeError(f"ROLLBACK failed: {result.error_message.decode(errors='replace')}")


class BaselineRolledBack(Baseline):
    """The baseline's transaction ended by ROLLBACK: what the replay is measured against."""

    def __init__(self, lane: Lane) -> None:
        super().__init__(lane, commit=False)


@contextlib.contextmanager
def _commit_becomes_rollback():
    """Django's default connection rolls back where it would commit, and runs no commit hooks."""

    def rollback_instead() -> None:
        connection.run_on_commit = []
        connection._rollback()

    connection._commit = rollback_instead
    try:
        yield
    finally:
        del connection._commit


def capture_distribution(lane: Lane, member_id: int, key: str) -> list[tuple[str, object, bool]]:
    """The statements one ``distribution_record`` call sends, with their parameters, in order:
    ``(sql, params, many)`` as Django hands them to the driver. The call is rolled back."""
    statements: list[tuple[str, object, bool]] = []

    def record(execute, sql, params, many, context):
        kept = None if params is None else [tuple(p) for p in params] if many else tuple(params)
        statements.append((sql, kept, many))
        return execute(sql, params, many, context)

    ours = Ours(lane)
    with connection.execute_wrapper(record), _commit_becomes_rollback():
        ours.run(member_id, key)
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        raise RuntimeError("The captured distribution was committed; replaying it would break its chain.")
    return statements


class Replay(_DriverRunner):
    """One ``distribution_record`` call's statements, replayed through a bare driver
    connection and rolled back each time (see the module's docstring for the terms)."""

    def __init__(self, lane: Lane, member_id: int, key: str) -> None:
        self.vendor = connection.vendor
        self.statements = capture_distribution(lane, member_id, key)
        params = connection.settings_dict
        options = params.get("OPTIONS") or {}
        if self.vendor == "postgresql":
            import psycopg

            self.conn = psycopg.connect(
                dbname=params["NAME"], user=params.get("USER") or None, password=params.get("PASSWORD") or None,
                host=params.get("HOST") or None, port=params.get("PORT") or None,
                cursor_factory=psycopg.Cursor if options.get("server_side_binding") is True else psycopg.ClientCursor,
                prepare_threshold=options.get("prepare_threshold"),
            )
            if connection.timezone_name and self.conn.info.parameter_status("TimeZone") != connection.timezone_name:
                self.conn.execute("SELECT set_config('TimeZone', %s, false)", (connection.timezone_name,))
                self.conn.commit()
        elif self.vendor == "sqlite":
            self.conn = sqlite3.connect(str(params["NAME"]), isolation_level=None, timeout=30)
            for pragma in (options.get("init_command") or "").split(";"):
                if pragma.strip():
                    self.conn.execute(pragma)
            # Django opens its transaction with a statement of its own (``BEGIN IMMEDIATE``, the
            # settings' transaction_mode), so the capture holds it; else the replay sends one.
            captured_begin = any(sql.lstrip().upper().startswith("BEGIN") for sql, _, _ in self.statements)
            self.begin = None if captured_begin else f"BEGIN {options.get('transaction_mode') or 'DEFERRED'}"
            self.statements = [
                (sql if p is None else _QMARK.sub("?", sql).replace("%%", "%"), () if p is None else p, many)
                for sql, p, many in self.statements
            ]
        else:
            raise RuntimeError(f"No replay for {self.vendor}.")
        connections.close_all()

    def run(self, member_id: int, key: str) -> None:
        """The captured statements once more; ``member_id`` and ``key`` are the captured call's."""
        cur = self.conn.cursor()
        if self.vendor == "sqlite" and self.begin:
            cur.execute(self.begin)
        try:
            for sql, params, many in self.statements:
                if many:
                    cur.executemany(sql, params)
                elif params is None:
                    cur.execute(sql)
                else:
                    cur.execute(sql, params)
                if cur.description is not None:
                    cur.fetchall()
        finally:
            if self.vendor == "sqlite":
                self.conn.execute("ROLLBACK")
            else:
                _pg_rollback(self.conn)


_QMARK = re.compile(r"(?<!%)%s")

RUNNERS = {"baseline": Baseline, "ours": Ours, "baseline_rolled_back": BaselineRolledBack, "replay": Replay}


# Workers ----------------------------------------------------------------------------------------


def _worker(kind: str, lane: Lane, index: int, lane_count: int, seconds: float | None, attempts: int | None, tag: str, barrier, queue) -> None:
    runner = None
    try:
        members = lane.member_ids
        # Workers sharing a lane (the overdraw probe) start far apart in its members; a worker
        # with a lane of its own starts at its freshest member.
        offset = (index // lane_count) * 7919
        if kind == "replay":
            runner = Replay(lane, members[offset % len(members)], f"{tag}-{index}-captured")
        else:
            runner = RUNNERS[kind](lane)
        for i in range(WARMUP_OPS if attempts is None else 0):
            runner.run(members[(offset + i) % len(members)], f"{tag}-{index}-w{i}")
        barrier.wait(timeout=120)
        ok, refusals, latencies = 0, Counter(), []
        pid = runner.backend_pid()
        server_before, cpu_before = cpu_seconds(pid), time.process_time()
        start = time.monotonic()
        deadline = start + seconds if seconds is not None else None
        i = 0
        while (deadline is None and i < attempts) or (deadline is not None and time.monotonic() < deadline):
            t = time.monotonic()
            try:
                runner.run(members[(offset + i) % len(members)], f"{tag}-{index}-{i}")
                ok += 1
            except Refused as exc:
                refusals[exc.code] += 1
            latencies.append(time.monotonic() - t)
            i += 1
        server_after = cpu_seconds(pid)
        queue.put({"index": index, "ok": ok, "refusals": dict(refusals), "start": start, "end": time.monotonic(),
                   "latencies": latencies, "client_cpu": time.process_time() - cpu_before,
                   "statements": len(getattr(runner, "statements", ())) or None,
                   "database_cpu": server_after - server_before if server_before is not None and server_after is not None else None})
    except BaseException:
        barrier.abort()
        queue.put({"index": index, "error": traceback.format_exc(limit=8)})
    finally:
        if runner is not None:
            runner.close()


def race(kind: str, lanes: list[Lane], workers: int, *, seconds: float | None = None, attempts: int | None = None) -> dict:
    """Run ``workers`` processes of ``kind`` at once; worker ``i`` uses lane ``i`` (modulo)."""
    ctx = multiprocessing.get_context("fork")
    connections.close_all()  # a forked child must never share the parent's socket
    barrier = ctx.Barrier(workers + 1)
    queue = ctx.Queue()
    tag = f"bench-{kind[:4]}-{uuid.uuid4().hex[:10]}"
    procs = [
        ctx.Process(target=_worker, args=(kind, lanes[i % len(lanes)], i, len(lanes), seconds, attempts, tag, barrier, queue), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    # A worker that fails aborts the barrier; its error then comes back through the queue.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=180)
    results = [queue.get(timeout=(seconds or 0) + 600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{kind} worker failed:\n{errors[0]}")
    ok = sum(r["ok"] for r in results)
    refusals: Counter = Counter()
    for r in results:
        refusals.update(r["refusals"])
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    attempts = sum(len(r["latencies"]) for r in results)
    cpu = {}
    if attempts and all(r["database_cpu"] is not None for r in results):
        # CPU time per attempt, this process's and its database backend's: what the wall clock
        # measures too on a quiet machine, without the queue for the CPU on a busy one.
        client = sum(r["client_cpu"] for r in results) / attempts
        database = sum(r["database_cpu"] for r in results) / attempts
        cpu = {"client_cpu_ms": round(client * 1000, 3), "database_cpu_ms": round(database * 1000, 3),
               "cpu_ms": round((client + database) * 1000, 3)}
    return {**cpu,
        "kind": kind, "workers": workers, "ok": ok, "refusals": dict(refusals), "seconds": round(elapsed, 3),
        "per_second": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(_pct(latencies, 50) * 1000, 2), "p99_ms": round(_pct(latencies, 99) * 1000, 2),
    } | ({"statements": max(r["statements"] for r in results)} if any(r.get("statements") for r in results) else {})


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# The measurement --------------------------------------------------------------------------------


def measure_throughput(*, seconds: float, workers: tuple[int, ...] = (1, 8), log=print) -> dict:
    lanes = prepare_lanes(max(workers), grams_each=Decimal("40.000") if seconds >= 5 else Decimal("5.000"))
    log(f"      {len(lanes)} drop-ins ready (groups {', '.join(str(lane.group_id) for lane in lanes)})")
    out: dict = {"lanes": [asdict(lane) | {"member_ids": len(lane.member_ids)} for lane in lanes], "runs": []}
    for n in workers:
        pair = {}
        for kind in ("baseline", "ours", "replay", "baseline_rolled_back"):
            result = race(kind, [_freshest_first(lane) for lane in lanes], n, seconds=seconds)
            pair[kind] = result
            log(f"      {kind:20} x{n}: {result['per_second']:,.0f} distributions/s, p50 {result['p50_ms']} ms, "
                f"p99 {result['p99_ms']} ms, refused {result['refusals'] or 'none'}")
        ratio = pair["ours"]["per_second"] / pair["baseline"]["per_second"] if pair["baseline"]["per_second"] else 0.0
        run = {"workers": n, "baseline": pair["baseline"], "ours": pair["ours"], "ratio": round(ratio, 3)}
        replay, rolled_back = pair["replay"], pair["baseline_rolled_back"]
        run |= {"replay": replay, "baseline_rolled_back": rolled_back,
                "replay_ratio": round(replay["per_second"] / rolled_back["per_second"], 3) if rolled_back["per_second"] else 0.0}
        if replay.get("database_cpu_ms") and rolled_back.get("database_cpu_ms"):
            run["replay_database_cpu_ratio"] = round(rolled_back["database_cpu_ms"] / replay["database_cpu_ms"], 3)
        log(f"      our SQL replayed x{n}: {replay['per_second']:,.0f}/s against the baseline rolled back "
            f"{rolled_back['per_second']:,.0f}/s = {run['replay_ratio']:.2f}"
            + (f"; database CPU {replay['database_cpu_ms']} ms against {rolled_back['database_cpu_ms']} ms"
               if "replay_database_cpu_ratio" in run else ""))
        if pair["ours"].get("cpu_ms") and pair["baseline"].get("cpu_ms"):
            run["cpu_ratio"] = round(pair["baseline"]["cpu_ms"] / pair["ours"]["cpu_ms"], 3)
            log(f"      CPU per distribution x{n}: ours {pair['ours']['cpu_ms']} ms "
                f"({pair['ours']['client_cpu_ms']} + database {pair['ours']['database_cpu_ms']}), baseline "
                f"{pair['baseline']['cpu_ms']} ms ({pair['baseline']['client_cpu_ms']} + database "
                f"{pair['baseline']['database_cpu_ms']}): {run['cpu_ratio']:.2f}")
        out["runs"].append(run)
    return out


def overdraw_probe(*, workers: int = 8, log=print) -> dict:
    """Eight workers ask one store for twice what it holds; exactly what it holds may go out."""
    stock = Decimal(PROBE_MG).scaleb(-3)
    lane = prepare_lanes(1, grams_each=stock, fresh=True)[0]
    attempts = 2 * PROBE_MG // workers
    result = race("ours", [lane], workers, attempts=attempts)
    balance = Decimal(Balance.objects.get(account_id=lane.store_id, batch_id=lane.batch_id).grams)
    unexpected = {code: n for code, n in result["refusals"].items() if code != "insufficient_stock"}
    ok = result["ok"] == PROBE_MG and balance == 0 and not unexpected
    out = {"workers": workers, "attempts": attempts * workers, "stock_grams": str(stock), "succeeded": result["ok"],
           "refusals": result["refusals"], "balance_after": str(balance), "ok": ok}
    log(f"      overdraw probe: {out['succeeded']} of {out['attempts']} asks for 1 mg went through against "
        f"{stock} g in stock, balance after {balance} g: {'OK' if ok else 'FAILED'}")
    return out
