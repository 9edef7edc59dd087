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
counts and no manifests received short: the services' tests cover those. Each entry
(``bench.ledger_play``) is hashed with the ledger's ``entry_hash`` onto the
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
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from bench.ledger_play import LedgerPlay, mg_to_grams
from compassionclub import demo
from compassionclub.roles import Role, sync_roles
from distributions.models import (
    Account,
    AllowancePolicy,
    LedgerEntry,
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
DISTRIBUTING_DAYS = 28
REVERSAL_RATE = 0.003
# A manifest's time on the road: received before the group's first distribution slot (2 h after release).
COURIER_SECONDS = 45 * 60
REJECT_RATE = 0.02
RECALL_RATE = 0.03
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
            status, t_recall = self._batch_fate(t_release)
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
            history += self._status_history(b.pk, p, officer)
        BatchStatusChange.objects.bulk_create(history, batch_size=5000)
        DrugCheck.objects.bulk_create(checks, batch_size=5000)
        checks = list(DrugCheck.objects.filter(batch_id__in=[p["id"] for p in self.batch_plans]).order_by("batch_id", "id"))
        findings = self._findings(checks, templates)
        Finding.objects.bulk_create(findings, batch_size=5000)
        self.counts.update(batches=len(batches), checks=len(checks), findings=len(findings))
        return len(batches) + len(history) + len(checks) + len(findings)

    def _batch_fate(self, t_release: int) -> tuple[str, int | None]:
        """A batch's status at the end, and when it was recalled if it was."""
        rng, end = self.rng, self.plan.days * DAY
        roll = rng.random()
        if t_release + 3600 > end:
            status = Batch.Status.QUARANTINED
        elif roll < REJECT_RATE:
            status = Batch.Status.REJECTED
        elif roll < REJECT_RATE + RECALL_RATE:
            status = Batch.Status.RECALLED
        else:
            status = Batch.Status.RELEASED
        t_recall = t_release + rng.randrange(3 * DAY, 20 * DAY) if status == Batch.Status.RECALLED else None
        if t_recall is not None and t_recall > end - 3 * 3600:
            status, t_recall = Batch.Status.RELEASED, None
        return status, t_recall

    def _status_history(self, batch_id: int, p: dict, officer: int) -> list[BatchStatusChange]:
        def change(from_status, to_status, at: int, reason: str) -> BatchStatusChange:
            return BatchStatusChange(batch_id=batch_id, from_status=from_status, to_status=to_status, changed_by_id=officer,
                                     changed_at=self.start + dt.timedelta(seconds=at), reason=reason)

        S = Batch.Status
        history = []
        if p["status"] == S.REJECTED:
            history.append(change(S.QUARANTINED, S.REJECTED, p["release"], "Fentanyl detected by mass spectrometry and strip."))
        elif p["status"] != S.QUARANTINED:
            history.append(change(S.QUARANTINED, S.RELEASED, p["release"],
                                  "All three methods agree: no fentanyl, benzodiazepines, nitazenes or xylazine."))
        if p["status"] == S.RECALLED:
            history.append(change(S.RELEASED, S.RECALLED, p["recall"],
                                  "Public drug alert: medetomidine found in samples from the same supplier."))
        return history

    def _findings(self, checks: list[DrugCheck], templates: dict) -> list[Finding]:
        """The demo's findings for each check; a rejected batch's checks found fentanyl. Notes
        each batch's checks and samples in its plan, for the ledger's sample entries."""
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
        return findings

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
        users = self.users
        return LedgerPlay(self, checker=users[CHECKER_USERNAME].pk, admin=users[ADMIN_USERNAME].pk,
                          root=users[ROOT_USERNAME].pk).run()

    def analyse(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return 0


def generate(*, scale: float, seed: int = 20220401, log: Callable[[str], None] = print) -> dict:
    return Generator(scale=scale, seed=seed, log=log).run()
