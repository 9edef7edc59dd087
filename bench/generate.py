"""A seeded, province-scale programme written straight into the tables, not through the
services (which would take hours at this size); ``manage.py bench_seed`` runs the ledger's own
verification on the result.

At ``--scale 1``: 50 groups, 50,000 members, 5,000 batches (each with an FTIR, a mass
spectrometry and two strip checks and their findings) and about 2,000,000 ledger entries over two
years. Smaller scales shrink every count (with a floor that keeps eight groups, so the 8-worker
benchmark has a store per worker).

The ledger is played forward in time, one event at a time, exactly as the services would have
written it: intake and samples into and out of the central store, stock sent to groups after
release on manifests (a ``manifest_send`` into the in-transit account, and 45 minutes later the
group's coordinator's ``manifest_receive`` of the same grams, with its ``Manifest`` row),
distributions to members, a few reversals, and for recalled or rejected batches the destruction
of what was left, each with its ``WitnessedDestruction`` row (the group's coordinator, or the
root account for the central store, witnessing the programme admin). The generator writes no
counts and no manifests received short: the services' tests cover those. Each entry is hashed with the ledger's ``entry_hash`` onto the
chain of the internal balance it belongs to, and the balances (with their chain heads) are the
running totals, so ``manage.py verify_ledger`` passes on the result. Members are handed at most
3.5 g at a time and at most once every two days, which keeps everyone inside the default
allowance of 14 g per rolling 7 days. Codes, amounts and times come from one seeded
``random.Random``; only the anchor ("now") moves with the clock, so that the last week's
windows are full when the benchmark asks about them.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from compassionclub import demo
from compassionclub.roles import Role, sync_roles
from distributions.models import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Account,
    AllowancePolicy,
    Balance,
    LedgerEntry,
    Manifest,
    WitnessedDestruction,
    chain_name,
    entry_hash,
)
from members.codes import ALPHABET, RANDOM_LENGTH, check_symbol
from members.models import Member, MemberGroup, MemberStatusChange, Region
from testing_results.models import (
    Batch,
    BatchStatusChange,
    Compound,
    DrugCheck,
    Finding,
    Instrument,
    StripLot,
    Substance,
)

DAY = 86_400
YEARS = 2
DISTRIBUTION_MG = (500, 1000, 1500, 2000, 2500, 3000, 3500)
MIN_GAP = 2 * DAY  # at most four pick-ups of 3.5 g in any 7 days: never over 14 g
DISTRIBUTING_DAYS = 28
REVERSAL_RATE = 0.003
# A manifest's time on the road: received before the group's first distribution slot (2 h after release).
COURIER_SECONDS = 45 * 60
REJECT_RATE = 0.02
RECALL_RATE = 0.03
CHUNK = 20_000
STRIP_CLASSES = ("fentanyl", "benzodiazepine")  # one strip check of each per batch

USERNAME_PREFIX = "bench_"
ROOT_USERNAME = "bench_root"
ADMIN_USERNAME = "bench_admin"
AUDITOR_USERNAME = "bench_auditor"
CHECKER_USERNAME = "bench_checker"
RELEASE_USERNAME = "bench_release"


@dataclass(frozen=True)
class Plan:
    groups: int
    members: int
    batches: int
    entries: int
    days: int = 365 * YEARS

    @classmethod
    def at(cls, scale: float) -> Plan:
        if not scale > 0:
            raise ValueError("--scale must be greater than 0.")
        return cls(
            groups=max(8, round(50 * scale)),
            members=max(80, round(50_000 * scale)),
            batches=max(12, round(5_000 * scale)),
            entries=max(600, round(2_000_000 * scale)),
        )


class Row:
    """One ledger entry's columns, without the cost of a model instance."""

    __slots__ = (
        "id", "kind", "batch_id", "from_account_id", "to_account_id", "grams", "member_id",
        "recorded_by_id", "recorded_at", "occurred_at", "idempotency_key", "reason", "reverses_id",
        "chain", "chain_seq", "prev_hash", "hash",
    )


_hashed_fields = attrgetter(*HASHED_FIELDS)


def _hash(row: Row) -> str:
    """The ledger's own hash of an entry (``distributions.models.entry_hash``)."""
    return entry_hash(*_hashed_fields(row))


def mg_to_grams(mg: int) -> Decimal:
    return Decimal(mg).scaleb(-3)


class Generator:
    def __init__(self, *, scale: float, seed: int, log: Callable[[str], None] = print) -> None:
        self.plan = Plan.at(scale)
        self.scale = scale
        self.seed = seed
        self.rng = random.Random(seed)
        self.log = log
        self.now = timezone.now().replace(second=0, microsecond=0)
        self.start = self.now - dt.timedelta(days=self.plan.days)
        self.counts: dict[str, int] = {}

    # Orchestration ---------------------------------------------------------------------------

    def run(self) -> dict:
        if LedgerEntry.objects.exists() or Member.objects.exists():
            raise RuntimeError(
                "This database already holds members or ledger entries. Seed a fresh database "
                "(e.g. createdb cc_bench, then migrate) so the benchmark measures known data."
            )
        began = time.perf_counter()
        steps: list[tuple[str, Callable[[], int]]] = [
            ("roles and staff", self.seed_users),
            ("groups", self.seed_groups),
            ("compounds, substances, policies", self.seed_vocabulary),
            ("members", self.seed_members),
            ("batches, checks, findings", self.seed_batches),
            ("ledger entries and balances", self.seed_ledger),
            ("statistics", self.analyse),
        ]
        for i, (name, step) in enumerate(steps, 1):
            t = time.perf_counter()
            with transaction.atomic():
                created = step()
            self.log(f"[{i}/{len(steps)}] {name}: {created:,} rows in {time.perf_counter() - t:.1f} s")
        self.counts["seconds"] = round(time.perf_counter() - began, 1)
        return {"plan": self.plan.__dict__, "scale": self.scale, "seed": self.seed, "counts": self.counts}

    # Staff, groups, vocabulary ----------------------------------------------------------------

    def seed_users(self) -> int:
        sync_roles()
        User = get_user_model()
        unusable = make_password(None)
        self.users = {}
        for username, role, superuser in (
            (ROOT_USERNAME, None, True),
            (ADMIN_USERNAME, Role.PROGRAMME_ADMIN, False),
            (AUDITOR_USERNAME, Role.AUDITOR, False),
            (CHECKER_USERNAME, Role.DRUG_CHECKER, False),
            (RELEASE_USERNAME, Role.RELEASE_OFFICER, False),
        ):
            user, _ = User.objects.get_or_create(
                username=username,
                defaults={"is_staff": True, "is_superuser": superuser, "password": unusable},
            )
            if role:
                user.groups.add(Group.objects.get(name=role))
            self.users[username] = user
        return len(self.users)

    def seed_groups(self) -> int:
        User = get_user_model()
        regions = list(Region.values)
        named = [(short, name, region) for short, name, region in demo.GROUPS]
        specs = named[: self.plan.groups] + [
            (f"PG{n:02d}", f"Peer group {n:02d}", regions[n % len(regions)])
            for n in range(len(named) + 1, self.plan.groups + 1)
        ]
        groups = MemberGroup.objects.bulk_create(
            [MemberGroup(short_name=s, name=n, region=r) for s, n, r in specs], batch_size=1000
        )
        unusable = make_password(None)
        coordinators = User.objects.bulk_create(
            [User(username=f"{USERNAME_PREFIX}coord_{g.short_name.lower()}", is_staff=True, password=unusable) for g in groups]
        )
        coordinators = list(User.objects.filter(username__in=[u.username for u in coordinators]).order_by("id"))
        by_name = {u.username: u for u in coordinators}
        role = Group.objects.get(name=Role.COORDINATOR)
        role.user_set.add(*coordinators)
        Through = MemberGroup.coordinators.through
        Through.objects.bulk_create(
            [Through(membergroup_id=g.pk, user_id=by_name[f"{USERNAME_PREFIX}coord_{g.short_name.lower()}"].pk) for g in groups]
        )
        self.groups = groups
        self.coordinator_of = {g.pk: by_name[f"{USERNAME_PREFIX}coord_{g.short_name.lower()}"].pk for g in groups}
        accounts = Account.objects.bulk_create([Account(kind=Account.Kind.GROUP, group=g) for g in groups])
        self.store_of = {
            a.group_id: a.pk for a in Account.objects.filter(kind=Account.Kind.GROUP, group__in=groups)
        }
        self.counts["groups"] = len(groups)
        return len(groups) + 2 * len(coordinators) + len(accounts)

    def seed_vocabulary(self) -> int:
        created = 0
        for name, category, drug_class in demo.COMPOUNDS:
            _, was = Compound.objects.get_or_create(name=name, defaults={"category": category, "drug_class": drug_class})
            created += was
        for name, compound in demo.SUBSTANCES:
            _, was = Substance.objects.get_or_create(name=name, defaults={"expected_compound": Compound.objects.get(name=compound)})
            created += was
        self.compounds = {c.name: c.pk for c in Compound.objects.all()}
        self.compound_class = dict(Compound.objects.values_list("name", "drug_class"))
        self.substances = list(Substance.objects.filter(name__in=[n for n, _ in demo.SUBSTANCES]).order_by("name"))
        for substance in self.substances:
            _, was = AllowancePolicy.objects.get_or_create(
                substance=substance, group=None,
                defaults={"window_days": 7, "max_grams": demo.DEFAULT_ALLOWANCE_GRAMS, "created_by": self.users[ADMIN_USERNAME]},
            )
            created += was
        self.accounts = {kind: Account.objects.get_or_create(kind=kind, group=None)[0].pk for kind in (
            Account.Kind.SUPPLIER, Account.Kind.CENTRAL, Account.Kind.MEMBERS, Account.Kind.LAB, Account.Kind.DESTROYED,
            Account.Kind.IN_TRANSIT,
        )}
        return created

    # Members ----------------------------------------------------------------------------------

    def _code(self, taken: set[str]) -> str:
        while True:
            body = "".join(self.rng.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
            code = body + check_symbol(body)
            if code not in taken:
                taken.add(code)
                return code

    def seed_members(self) -> int:
        rng = self.rng
        today = timezone.localdate(self.now)
        pin = make_password(f"{rng.randrange(10**6):06d}", hasher="pbkdf2_sha256")
        weights = [rng.uniform(0.5, 1.5) for _ in self.groups]
        taken: set[str] = set()
        members = []
        for _ in range(self.plan.members):
            group = rng.choices(self.groups, weights)[0]
            roll = rng.random()
            status = Member.Status.ACTIVE if roll < 0.92 else Member.Status.SUSPENDED if roll < 0.97 else Member.Status.WITHDRAWN
            enrolled = today - dt.timedelta(days=self.plan.days + rng.randrange(0, 365))
            overdue = rng.random() < 0.05
            renewal = today - dt.timedelta(days=rng.randrange(1, 60)) if overdue else today + dt.timedelta(days=rng.randrange(1, 366))
            members.append(
                Member(
                    code=self._code(taken), group_id=group.pk, status=status, enrolled_on=enrolled, renewal_due=renewal,
                    consent_version="2022-04",
                    consent_given_at=dt.datetime.combine(enrolled, dt.time(12), tzinfo=dt.UTC),
                    age_attested=True, pin=pin, created_by_id=self.coordinator_of[group.pk],
                )
            )
        Member.objects.bulk_create(members, batch_size=5000)
        members = list(Member.objects.order_by("id").only("id", "group_id", "status", "renewal_due", "enrolled_on"))
        history = []
        for m in members:
            changed = dt.datetime.combine(m.enrolled_on, dt.time(12), tzinfo=dt.UTC)
            by = self.coordinator_of[m.group_id]
            history.append(MemberStatusChange(member_id=m.pk, from_status="", to_status=Member.Status.ACTIVE,
                                              reason=MemberStatusChange.Reason.ENROLLED, changed_by_id=by, changed_at=changed))
            if m.status != Member.Status.ACTIVE:
                reason = MemberStatusChange.Reason.SAFETY if m.status == Member.Status.SUSPENDED else MemberStatusChange.Reason.MOVED
                history.append(MemberStatusChange(member_id=m.pk, from_status=Member.Status.ACTIVE, to_status=m.status,
                                                  reason=reason, changed_by_id=by, changed_at=self.start))
        MemberStatusChange.objects.bulk_create(history, batch_size=5000)
        # Who may receive: active members, until their renewal falls due.
        self.receivers: dict[int, list[int]] = {g.pk: [] for g in self.groups}
        self.renewal_cutoff: dict[int, int] = {}
        for m in members:
            if m.status == Member.Status.ACTIVE:
                self.receivers[m.group_id].append(m.pk)
                cutoff = dt.datetime.combine(m.renewal_due + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
                self.renewal_cutoff[m.pk] = int((cutoff - self.start).total_seconds())
        self.counts["members"] = len(members)
        return len(members) + len(history)

    # Batches and checks -------------------------------------------------------------------------

    def seed_batches(self) -> int:
        rng, plan = self.rng, self.plan
        templates = {name: checks for name, _grams, checks, release in demo.BATCHES if release}
        seqs: dict[str, int] = {}
        checker, officer = self.users[CHECKER_USERNAME].pk, self.users[RELEASE_USERNAME].pk
        span = (plan.days - 1) * DAY
        self.batch_plans: list[dict] = []
        batches = []
        for i in range(plan.batches):
            substance = self.substances[i % len(self.substances)]
            t0 = int(i * span / plan.batches) + rng.randrange(0, 3600)
            received = self.start + dt.timedelta(seconds=t0)
            prefix = (substance.name.upper() + "XXX")[:3]
            stem = f"{prefix}-{received.year}-"
            seqs[stem] = seqs.get(stem, 0) + 1
            t_release = t0 + 2 * DAY
            roll = rng.random()
            if t_release + 3600 > plan.days * DAY:
                status = Batch.Status.QUARANTINED
            elif roll < REJECT_RATE:
                status = Batch.Status.REJECTED
            elif roll < REJECT_RATE + RECALL_RATE:
                status = Batch.Status.RECALLED
            else:
                status = Batch.Status.RELEASED
            t_recall = t_release + rng.randrange(3 * DAY, 20 * DAY) if status == Batch.Status.RECALLED else None
            if t_recall is not None and t_recall > plan.days * DAY - 3 * 3600:
                status, t_recall = Batch.Status.RELEASED, None
            changed = {Batch.Status.QUARANTINED: t0, Batch.Status.REJECTED: t_release,
                       Batch.Status.RELEASED: t_release, Batch.Status.RECALLED: t_recall}[status]
            batches.append(Batch(
                code=f"{stem}{seqs[stem]:04d}", substance=substance, received_on=received.date(),
                received_grams=Decimal("1.000"),  # set below, once the plan says how much was bought
                best_before=received.date() + dt.timedelta(days=365), status=status,
                status_changed_at=self.start + dt.timedelta(seconds=changed), created_by_id=checker,
            ))
            self.batch_plans.append({"t0": t0, "release": t_release, "recall": t_recall, "status": status,
                                     "substance": substance})
        self._plan_stock(batches)
        Batch.objects.bulk_create(batches, batch_size=2000)
        by_code = {b.code: b for b in Batch.objects.filter(code__in=[b.code for b in batches])}
        instruments, lot_for = self._sources()
        history, checks = [], []
        for b, p in zip([by_code[x.code] for x in batches], self.batch_plans, strict=True):
            p["id"] = b.pk
            at = self.start + dt.timedelta(seconds=p["t0"])
            # Every check names what produced it: a spectrum its instrument, a strip its lot (one
            # strip, so one check, per class).
            for k, method in enumerate(("ftir", "mass_spec")):
                checks.append(DrugCheck(batch_id=b.pk, method_id=method, performed_at=at + dt.timedelta(hours=20 + k),
                                        performed_by_id=checker, lab=demo.LABS[method], sample_mg=demo.SAMPLE_MG[method],
                                        instrument_id=instruments[method]))
            for k, drug_class in enumerate(STRIP_CLASSES, start=2):
                performed = at + dt.timedelta(hours=20 + k)
                checks.append(DrugCheck(batch_id=b.pk, method_id="immunoassay", performed_at=performed, performed_by_id=checker,
                                        lab=demo.LABS["immunoassay"], sample_mg=demo.SAMPLE_MG["immunoassay"],
                                        strip_lot_id=lot_for(drug_class, performed)))
            if p["status"] == Batch.Status.REJECTED:
                history.append(BatchStatusChange(batch_id=b.pk, from_status=Batch.Status.QUARANTINED, to_status=Batch.Status.REJECTED,
                                                 changed_by_id=officer, changed_at=self.start + dt.timedelta(seconds=p["release"]),
                                                 reason="Fentanyl detected by mass spectrometry and strip."))
            elif p["status"] != Batch.Status.QUARANTINED:
                history.append(BatchStatusChange(batch_id=b.pk, from_status=Batch.Status.QUARANTINED, to_status=Batch.Status.RELEASED,
                                                 changed_by_id=officer, changed_at=self.start + dt.timedelta(seconds=p["release"]),
                                                 reason="All three methods agree: no fentanyl, benzodiazepines, nitazenes or xylazine."))
            if p["status"] == Batch.Status.RECALLED:
                history.append(BatchStatusChange(batch_id=b.pk, from_status=Batch.Status.RELEASED, to_status=Batch.Status.RECALLED,
                                                 changed_by_id=officer, changed_at=self.start + dt.timedelta(seconds=p["recall"]),
                                                 reason="Public drug alert: medetomidine found in samples from the same supplier."))
        BatchStatusChange.objects.bulk_create(history, batch_size=5000)
        DrugCheck.objects.bulk_create(checks, batch_size=5000)
        checks = list(DrugCheck.objects.filter(batch_id__in=[p["id"] for p in self.batch_plans]).order_by("batch_id", "id"))
        lot_class = dict(StripLot.objects.values_list("pk", "drug_class"))
        findings = []
        plans_by_id = {p["id"]: p for p in self.batch_plans}
        for c in checks:
            p = plans_by_id[c.batch_id]
            p.setdefault("checks", []).append((c.pk, int(c.sample_mg)))
            for name, result, pct in templates[p["substance"].name][c.method_id]:
                if c.strip_lot_id and self.compound_class[name] != lot_class[c.strip_lot_id]:
                    continue
                if p["status"] == Batch.Status.REJECTED and name == "Fentanyl":
                    result, pct = ("positive", None) if c.method_id == "immunoassay" else ("detected", pct or Decimal("1.100"))
                findings.append(Finding(drug_check_id=c.pk, compound_id=self.compounds[name], result=result, concentration_pct=pct))
        Finding.objects.bulk_create(findings, batch_size=5000)
        self.counts.update(batches=len(batches), checks=len(checks), findings=len(findings))
        return len(batches) + len(history) + len(checks) + len(findings)

    def _sources(self) -> tuple[dict[str, int], Callable[[str, dt.datetime], int]]:
        """The demo's instruments, verified until after the last check, and a strip lot per class
        and calendar year, expiring at the end of its year (each check uses the lot of its year)."""
        today = self.now.date()
        instruments = {
            method: Instrument.objects.get_or_create(
                method_id=method, serial=serial,
                defaults={"make_model": model, "library": library, "library_version": version,
                          "verified_until": today + dt.timedelta(days=days)},
            )[0].pk
            for method, model, serial, library, version, days in demo.INSTRUMENTS
        }
        makers = {cls: (maker, number, cutoff) for maker, number, cls, cutoff, _days in demo.STRIP_LOTS}
        lots: dict[tuple[str, int], int] = {}

        def lot_for(drug_class: str, at: dt.datetime) -> int:
            year = timezone.localtime(at).year
            if (drug_class, year) not in lots:
                maker, number, cutoff = makers[drug_class]
                lots[(drug_class, year)] = StripLot.objects.get_or_create(
                    maker=maker, lot_number=f"{number}-{year}", drug_class=drug_class,
                    defaults={"cutoff_ng_ml": cutoff, "expires_on": dt.date(year, 12, 31)},
                )[0].pk
            return lots[(drug_class, year)]

        return instruments, lot_for

    def _plan_stock(self, batches: list[Batch]) -> None:
        """Decide each batch's transfers and distribution slots, and so how much was bought."""
        rng, plan = self.rng, self.plan
        end = plan.days * DAY
        handed_out = (Batch.Status.RELEASED, Batch.Status.RECALLED)
        distributing = sum(1 for p in self.batch_plans if p["status"] in handed_out)
        per_batch = max(1, round((plan.entries - 7 * plan.batches) / max(1, distributing) * 1.03))
        for batch, p in zip(batches, self.batch_plans, strict=True):
            p["transfers"], p["slots"] = [], []
            bought_mg = 0
            if p["status"] in handed_out:
                groups = rng.sample(range(len(self.groups)), k=min(len(self.groups), rng.choice((1, 2, 2, 3))))
                stop = min(end - 60, p["recall"] or end, p["release"] + DISTRIBUTING_DAYS * DAY)
                for n, gi in enumerate(groups):
                    count = per_batch // len(groups) + (1 if n < per_batch % len(groups) else 0)
                    slots = []
                    for _ in range(count):
                        t = p["release"] + 2 * 3600 + rng.randrange(0, DISTRIBUTING_DAYS * DAY)
                        slots.append((t, gi, rng.choice(DISTRIBUTION_MG)))
                    planned = sum(mg for _t, _g, mg in slots)
                    send = -(-int(planned * 1.08) // 1000) * 1000 or 1000
                    p["transfers"].append((p["release"] + 3600 + 60 * n, gi, send))
                    p["slots"].extend(s for s in slots if s[0] < stop)
                    bought_mg += send
            reserve = rng.choice((50, 100, 250)) * 1000
            bought_mg += reserve
            p["received_mg"] = bought_mg
            batch.received_grams = mg_to_grams(bought_mg)

    # The ledger -------------------------------------------------------------------------------

    def _events(self) -> list[tuple]:
        """(time, order, kind, batch plan index, a, b), sorted into the order they happened."""
        rng = self.rng
        end = self.plan.days * DAY
        events = []
        for bi, p in enumerate(self.batch_plans):
            events.append((p["t0"], 0, "intake", bi, p["received_mg"], 0))
            for k, (check_id, sample_mg) in enumerate(p["checks"]):
                events.append((p["t0"] + (20 + k) * 3600, 1, "sample", bi, check_id, sample_mg))
            if p["status"] == Batch.Status.REJECTED:
                events.append((p["release"] + 3600, 2, "destroy_central", bi, 0, 0))
            for t, gi, mg in p["transfers"]:
                events.append((t, 2, "send", bi, gi, mg))
                events.append((t + COURIER_SECONDS, 2, "receive", bi, gi, mg))
            for t, gi, mg in p["slots"]:
                events.append((t, 3, "distribution", bi, gi, mg))
                if rng.random() < REVERSAL_RATE and t + 900 < end:
                    events.append((t + 900, 4, "reversal", bi, gi, 0))
            if p["status"] == Batch.Status.RECALLED:
                for _t, gi, _mg in p["transfers"]:
                    events.append((p["recall"] + 3600, 5, "destroy_group", bi, gi, 0))
                events.append((p["recall"] + 7200, 5, "destroy_central", bi, 0, 0))
            p["slots"] = p["transfers"] = None
        events.sort(key=lambda e: (e[0], e[1], e[3]))
        return events

    def seed_ledger(self) -> int:
        rng = self.rng
        events = self._events()
        acc = self.accounts
        central, supplier, members_acc = acc[Account.Kind.CENTRAL], acc[Account.Kind.SUPPLIER], acc[Account.Kind.MEMBERS]
        lab, destroyed, in_transit = acc[Account.Kind.LAB], acc[Account.Kind.DESTROYED], acc[Account.Kind.IN_TRANSIT]
        internal = {central, in_transit, *self.store_of.values()}
        group_pk = [g.pk for g in self.groups]
        checker, admin, root = self.users[CHECKER_USERNAME].pk, self.users[ADMIN_USERNAME].pk, self.users[ROOT_USERNAME].pk
        start_id = (LedgerEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        next_id = start_id
        balances: dict[tuple[int, int], int] = {}
        heads: dict[tuple[int, int], tuple[int, str]] = {}
        open_distributions: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        next_allowed: dict[int, int] = {}
        writer = EntryWriter()
        on_the_road: dict[tuple[int, int], tuple[int, int]] = {}
        manifests: list[Manifest] = []
        witnessed: list[WitnessedDestruction] = []
        skipped = 0
        total = len(events)
        report_every = max(1, total // 10)

        def append(t, kind, batch_id, src, dst, mg, by, *, member=None, reason="", reverses=None, key=None):
            nonlocal next_id
            chain_acc = src if src in internal else dst
            seq, prev = heads.get((chain_acc, batch_id), (0, GENESIS_HASH))
            occurred = self.start + dt.timedelta(seconds=t)
            r = Row()
            r.id, r.kind, r.batch_id, r.from_account_id, r.to_account_id = next_id, kind, batch_id, src, dst
            r.grams, r.member_id, r.recorded_by_id = mg_to_grams(mg), member, by
            r.occurred_at, r.recorded_at = occurred, occurred + dt.timedelta(seconds=rng.randrange(1, 90))
            r.idempotency_key = key or f"seed-{next_id}"
            r.reason, r.reverses_id = reason, reverses
            r.chain, r.chain_seq, r.prev_hash = chain_name(chain_acc, batch_id), seq + 1, prev
            r.hash = _hash(r)
            heads[(chain_acc, batch_id)] = (seq + 1, r.hash)
            balances[(src, batch_id)] = balances.get((src, batch_id), 0) - mg
            balances[(dst, batch_id)] = balances.get((dst, batch_id), 0) + mg
            if src in internal and balances[(src, batch_id)] < 0:
                raise AssertionError(f"generator overdrew account {src} for batch {batch_id}")
            writer.add(r)
            next_id += 1
            return r.id

        for n, (t, _order, kind, bi, a, b) in enumerate(events, 1):
            if n % report_every == 0:
                self.log(f"      ledger: {n * 100 // total}% of {total:,} events, {next_id - start_id:,} entries")
            p = self.batch_plans[bi]
            batch_id = p["id"]
            if kind == "intake":
                append(t, LedgerEntry.Kind.INTAKE, batch_id, supplier, central, a, checker, key=f"intake-{batch_id}")
            elif kind == "sample":
                append(t, LedgerEntry.Kind.SAMPLE, batch_id, central, lab, b, checker, key=f"sample-{a}")
            elif kind == "send":
                on_the_road[(bi, a)] = (append(t, LedgerEntry.Kind.MANIFEST_SEND, batch_id, central, in_transit, b, admin), t)
            elif kind == "receive":
                gid = group_pk[a]
                send_id, sent = on_the_road.pop((bi, a))
                receive_id = append(t, LedgerEntry.Kind.MANIFEST_RECEIVE, batch_id, in_transit, self.store_of[gid], b,
                                    self.coordinator_of[gid], key=f"seed-manifest-{send_id}-receive")
                manifests.append(Manifest(
                    batch_id=batch_id, from_store_id=central, to_store_id=self.store_of[gid], grams_sent=mg_to_grams(b),
                    packages=max(1, b // 25_000), status=Manifest.Status.RECEIVED, sent_by_id=admin,
                    sent_at=self.start + dt.timedelta(seconds=sent), send_entry_id=send_id,
                    received_by_id=self.coordinator_of[gid], received_at=self.start + dt.timedelta(seconds=t),
                    grams_received=mg_to_grams(b), receive_entry_id=receive_id,
                ))
            elif kind == "distribution":
                gid = group_pk[a]
                pool = self.receivers[gid]
                member = None
                for _ in range(24 if pool else 0):
                    candidate = pool[rng.randrange(len(pool))]
                    if next_allowed.get(candidate, -MIN_GAP) + MIN_GAP <= t < self.renewal_cutoff[candidate]:
                        member = candidate
                        break
                if member is None:
                    skipped += 1
                    continue
                next_allowed[member] = t
                entry_id = append(t, LedgerEntry.Kind.DISTRIBUTION, batch_id, self.store_of[gid], members_acc, b,
                                  self.coordinator_of[gid], member=member)
                open_distributions.setdefault((bi, a), []).append((entry_id, member, b))
            elif kind == "reversal":
                recent = open_distributions.get((bi, a))
                if not recent:
                    continue
                entry_id, member, mg = recent.pop()
                gid = group_pk[a]
                append(t, LedgerEntry.Kind.REVERSAL, batch_id, members_acc, self.store_of[gid], mg, self.coordinator_of[gid],
                       member=member, reason=LedgerEntry.ReversalReason.DUPLICATE, reverses=entry_id, key=f"reversal-{entry_id}")
            elif kind == "destroy_group":
                store = self.store_of[group_pk[a]]
                left = balances.get((store, batch_id), 0)
                if left > 0:
                    entry_id = append(t, LedgerEntry.Kind.DESTRUCTION, batch_id, store, destroyed, left, admin,
                                      reason=LedgerEntry.DestructionReason.RECALLED)
                    witnessed.append(WitnessedDestruction(entry_id=entry_id, destroyed_by_id=admin,
                                                          witness_id=self.coordinator_of[group_pk[a]], method="incineration"))
            elif kind == "destroy_central":
                left = balances.get((central, batch_id), 0)
                if left > 0:
                    reason = LedgerEntry.DestructionReason.RECALLED if p["status"] == Batch.Status.RECALLED else LedgerEntry.DestructionReason.DAMAGED
                    entry_id = append(t, LedgerEntry.Kind.DESTRUCTION, batch_id, central, destroyed, left, admin, reason=reason)
                    witnessed.append(WitnessedDestruction(entry_id=entry_id, destroyed_by_id=admin, witness_id=root,
                                                          method="hazardous_waste"))
        writer.close()
        Manifest.objects.bulk_create(manifests, batch_size=5000)
        WitnessedDestruction.objects.bulk_create(witnessed, batch_size=5000)
        rows = [
            Balance(account_id=account_id, batch_id=batch_id, grams=mg_to_grams(mg), internal=account_id in internal,
                    last_seq=heads.get((account_id, batch_id), (0, GENESIS_HASH))[0],
                    last_hash=heads.get((account_id, batch_id), (0, GENESIS_HASH))[1])
            for (account_id, batch_id), mg in sorted(balances.items())
        ]
        Balance.objects.bulk_create(rows, batch_size=5000)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), [LedgerEntry]):
                    cursor.execute(sql)
        self.counts.update(entries=next_id - start_id, balances=len(rows), distribution_slots_without_member=skipped,
                           manifests=len(manifests), witnessed_destructions=len(witnessed))
        return next_id - start_id + len(rows) + len(manifests) + len(witnessed)

    def analyse(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return 0


class EntryWriter:
    """Streams ledger rows into the table: ``COPY`` on PostgreSQL, ``executemany`` elsewhere."""

    def __init__(self) -> None:
        self.fields = list(LedgerEntry._meta.concrete_fields)
        self.table = connection.ops.quote_name(LedgerEntry._meta.db_table)
        self.columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.pending: list[Row] = []

    def add(self, row: Row) -> None:
        self.pending.append(row)
        if len(self.pending) >= CHUNK:
            self.flush()

    def close(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        attnames = [f.attname for f in self.fields]
        values: Iterable[list] = ([getattr(r, a) for a in attnames] for r in self.pending)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:  # noqa: S608
                    for row in values:
                        copy.write_row(row)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                datetime_positions = [i for i, f in enumerate(self.fields) if f.get_internal_type() == "DateTimeField"]
                prepared = []
                for row in values:
                    for i in datetime_positions:
                        row[i] = adapt(row[i])
                    prepared.append(row)
                placeholders = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(f"INSERT INTO {self.table} ({self.columns}) VALUES ({placeholders})", prepared)  # noqa: S608
        self.pending.clear()


def generate(*, scale: float, seed: int = 20220401, log: Callable[[str], None] = print) -> dict:
    return Generator(scale=scale, seed=seed, log=log).run()
