"""Load the demo programme. Idempotent: a second run finds everything in place and adds nothing."""

from __future__ import annotations

import datetime as dt
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from compassionclub import demo
from compassionclub.roles import sync_roles
from distributions import services as ledger
from distributions.models import Account, AllowancePolicy, LedgerEntry, Manifest
from members import services as member_services
from members.codes import format_code
from members.models import Member, MemberGroup, RetiredCode
from members.services import MEMBERSHIP_DAYS
from testing_results import services as testing
from testing_results.models import Batch, Compound, DetectionLimit, Instrument, Method, StripLot, Substance


class Command(BaseCommand):
    help = "Load the demo groups, substances, batches, members and one staff user per role (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo logins.")

    def handle(self, *args, **options):
        if not settings.DEMO_ACCOUNTS_ALLOWED:
            raise CommandError("seed_demo creates demo accounts and refuses to run in production mode (DJANGO_ENV=production).")
        steps = [
            ("roles", self.seed_roles),
            ("groups", self.seed_groups),
            ("compounds and substances", self.seed_vocabulary),
            ("staff users", self.seed_users),
            ("allowance policies", self.seed_policies),
            ("members", self.seed_members),
            ("batches and checks", self.seed_batches),
            ("manifests to groups", self.seed_transfers),
            ("distributions", self.seed_distributions),
            ("renewals due", self.seed_renewals_due),
            ("a replaced card", self.seed_replaced_card),
        ]
        created_total = 0
        for i, (name, step) in enumerate(steps, 1):
            created = step()
            created_total += created
            self.stdout.write(f"[{i}/{len(steps)}] {name}: {created} created")
        if not options["quiet_logins"]:
            self.print_logins()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {created_total} records created."))

    # Each step returns how many records it created.

    def seed_roles(self) -> int:
        sync_roles()
        return 0

    def seed_groups(self) -> int:
        created = 0
        for short_name, name, region in demo.GROUPS:
            _, was_created = MemberGroup.objects.get_or_create(
                short_name=short_name, defaults={"name": name, "region": region}
            )
            created += was_created
        return created

    def seed_vocabulary(self) -> int:
        created = 0
        for name, category, drug_class in demo.COMPOUNDS:
            _, was_created = Compound.objects.get_or_create(
                name=name, defaults={"category": category, "drug_class": drug_class, "name_fr": demo.NAMES_FR.get(name, "")}
            )
            created += was_created
        for code, drug_class, limit in demo.DETECTION_LIMITS:
            DetectionLimit.objects.get_or_create(
                method_id=code, instrument=None, compound=None, drug_class=drug_class,
                defaults={"limit_pct": limit, "note": "Demo lab's validation."},
            )
        for code, names in demo.panels().items():
            method = Method.objects.get(code=code)
            if not method.panel.exists():
                method.panel.set(Compound.objects.filter(name__in=names))
        for name, compound in demo.SUBSTANCES:
            _, was_created = Substance.objects.get_or_create(
                name=name, defaults={"expected_compound": Compound.objects.get(name=compound),
                                     "name_fr": demo.NAMES_FR.get(name, "")}
            )
            created += was_created
        return created

    def seed_users(self) -> int:
        User = get_user_model()
        created = 0
        for username, role, groups in demo.DEMO_USERS:
            user, was_created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
            if was_created:
                user.set_password(demo.DEMO_PASSWORD)
                user.save(update_fields=["password"])
                created += 1
            user.groups.add(Group.objects.get(name=role))
            for short_name in groups:
                MemberGroup.objects.get(short_name=short_name).coordinators.add(user)
        return created

    def seed_policies(self) -> int:
        admin = self.user("demo_admin")
        created = 0
        for substance in Substance.objects.all():
            if not AllowancePolicy.objects.filter(substance=substance, group=None).exists():
                ledger.allowance_policy_set(substance=substance, group=None, window_days=7, max_grams=demo.DEFAULT_ALLOWANCE_GRAMS, by=admin)
                created += 1
        return created

    def seed_members(self) -> int:
        created = 0
        for short_name, count in demo.MEMBERS_PER_GROUP.items():
            group = MemberGroup.objects.get(short_name=short_name)
            coordinator = group.coordinators.order_by("username").first()
            for _ in range(count - group.members.count()):
                member_services.member_enrol(group=group, pin=demo.DEMO_PIN, consent_version="2022-04", by=coordinator)
                created += 1
        return created

    def seed_batches(self) -> int:
        checker, officer = self.user("demo_checker"), self.user("demo_release")
        created = 0
        today = timezone.localdate()
        instruments = {
            method: Instrument.objects.get_or_create(
                method_id=method, serial=serial,
                defaults={"make_model": model, "library": library, "library_version": version,
                          "verified_until": today + dt.timedelta(days=days)},
            )[0]
            for method, model, serial, library, version, days in demo.INSTRUMENTS
        }
        lots = {
            cls: StripLot.objects.get_or_create(
                maker=maker, lot_number=number, drug_class=cls,
                defaults={"cutoff_ng_ml": cutoff, "expires_on": today + dt.timedelta(days=days)},
            )[0]
            for maker, number, cls, cutoff, days in demo.STRIP_LOTS
        }
        for substance_name, grams, checks, release in demo.BATCHES:
            substance = Substance.objects.get(name=substance_name)
            if Batch.objects.filter(substance=substance, received_grams=grams).exists():
                continue
            with transaction.atomic():
                batch = testing.batch_receive(
                    substance=substance, grams=grams, received_on=today - dt.timedelta(days=10),
                    best_before=today + dt.timedelta(days=355), by=checker,
                )
                for method, findings in checks.items():
                    rows = [
                        {"compound": Compound.objects.get(name=name), "result": result, "concentration_pct": pct}
                        for name, result, pct in findings
                    ]
                    # One strip per class, each from its own lot; a spectrum names its instrument.
                    groups = (
                        [[r for r in rows if r["compound"].drug_class == cls] for cls in dict.fromkeys(r["compound"].drug_class for r in rows)]
                        if method == "immunoassay" else [rows]
                    )
                    for group in groups:
                        source = (
                            {"strip_lot": lots[group[0]["compound"].drug_class]} if method == "immunoassay"
                            else {"instrument": instruments[method]}
                        )
                        testing.check_record(
                            batch=batch, method=method, by=checker, sample_mg=demo.SAMPLE_MG[method],
                            lab=demo.LABS[method], findings=group, **source,
                        )
            created += 1
            if release:
                testing.batch_release(batch=batch, by=officer, reason="All three methods agree: no fentanyl, benzodiazepines, nitazenes or xylazine.")
        return created

    def seed_transfers(self) -> int:
        """Stock reaches the groups as it does in the programme: on manifests the programme admin
        sends and each group's coordinator receives by weight. One more package is left on the
        road to SOLID, for its coordinator to receive (or the admin to cancel)."""
        admin = self.user("demo_admin")
        central = ledger.system_account(Account.Kind.CENTRAL)
        created = 0
        batches = list(Batch.objects.filter(status=Batch.Status.RELEASED).order_by("id"))
        for batch in batches:
            for short_name, grams in demo.TRANSFERS.items():
                created += self.send(batch, short_name, grams, admin, central, key=f"demo-transfer-{batch.code}-{short_name}",
                                     receive=True)
        if batches:
            short_name, grams = demo.IN_TRANSIT
            created += self.send(batches[0], short_name, grams, admin, central, key=f"demo-in-transit-{batches[0].code}",
                                 receive=False)
        return created

    def send(self, batch, short_name: str, grams, admin, central, *, key: str, receive: bool) -> int:
        if Manifest.objects.filter(send_entry__idempotency_key=key).exists():
            return 0
        group = MemberGroup.objects.get(short_name=short_name)
        manifest = ledger.manifest_send(batch=batch, from_store=central, to_store=ledger.group_account(group), grams=grams,
                                        packages=demo.PACKAGES, by=admin, idempotency_key=key)
        if receive:
            ledger.manifest_receive(manifest=manifest, grams_received=grams,
                                    by=group.coordinators.order_by("username").first())
        return 1

    def seed_distributions(self) -> int:
        coordinator = self.user("demo_coordinator")
        created = 0
        members = list(Member.objects.filter(group__short_name="VANDU").order_by("id")[:3])
        batches = list(Batch.objects.filter(status=Batch.Status.RELEASED).order_by("id"))
        for i, member in enumerate(members):
            batch = batches[i % len(batches)]
            # By the member's id, not code: a card replaced since keeps its member's visits.
            key = f"demo-distribution-{member.pk}-{batch.code}"
            if LedgerEntry.objects.filter(idempotency_key=key).exists():
                continue
            ledger.distribution_record(member=member, batch=batch, grams=demo.DISTRIBUTION_GRAMS, by=coordinator, idempotency_key=key)
            created += 1
        return created

    def seed_renewals_due(self) -> int:
        """Members enrolled about a year ago, due for renewal soon or overdue, so a new user sees
        the renewals worklist working. Counted, so a second run adds none."""
        created = 0
        today = timezone.localdate()
        for short_name, days_left in demo.RENEWALS_DUE.items():
            group = MemberGroup.objects.get(short_name=short_name)
            coordinator = group.coordinators.order_by("username").first()
            due = group.members.filter(renewal_due__lte=today + dt.timedelta(days=30)).count()
            for days in days_left[due:]:
                member_services.member_enrol(
                    group=group, pin=demo.DEMO_PIN, consent_version="2022-04", by=coordinator,
                    enrolled_on=today + dt.timedelta(days=days - MEMBERSHIP_DAYS),
                )
                created += 1
        return created

    def seed_replaced_card(self) -> int:
        """A member who lost their card: visits on the old card, a new card (same PIN), a visit
        on the new one. The old code is refused at the desk and on the status page."""
        short_name, index = demo.REPLACED_CARD
        if RetiredCode.objects.filter(member__group__short_name=short_name).exists():
            return 0
        coordinator = self.user("demo_coordinator")
        member = Member.objects.filter(group__short_name=short_name).order_by("id")[index]
        member_services.member_card_reissue(member=member, pin=demo.DEMO_PIN, reason=RetiredCode.Reason.LOST, by=coordinator)
        batch = Batch.objects.filter(status=Batch.Status.RELEASED).order_by("id").first()
        ledger.distribution_record(member=member, batch=batch, grams=demo.DISTRIBUTION_GRAMS, by=coordinator,
                                   idempotency_key=f"demo-after-new-card-{member.pk}")
        return 2

    def user(self, username: str):
        return get_user_model().objects.get(username=username)

    def print_logins(self) -> None:
        self.stdout.write("")
        # scripts/serve runs the server on $PORT: the addresses printed are the ones it serves.
        site = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}"
        self.stdout.write(f"Demo staff logins at {site}/admin/ (development only):")
        for username, role, groups in demo.DEMO_USERS:
            scope = f" of {', '.join(groups)}" if groups else ""
            self.stdout.write(f"  {username:<24} {demo.DEMO_PASSWORD}   {role}{scope}")
        sample = Member.objects.filter(group__short_name="VANDU", status=Member.Status.ACTIVE).order_by("id").first()
        if sample is not None:
            self.stdout.write("")
            self.stdout.write(f"Member status page at {site}/status/ (demo members all use one PIN):")
            self.stdout.write(f"  member code {format_code(sample.code)}   PIN {demo.DEMO_PIN}")
        replaced = RetiredCode.objects.select_related("member").order_by("id").first()
        if replaced is not None:
            self.stdout.write(f"  a replaced card: new code {format_code(replaced.member.code)}, "
                              f"the lost one {format_code(replaced.code)} is refused")
        due = Member.objects.filter(renewal_due__lte=timezone.localdate() + dt.timedelta(days=30)).count()
        self.stdout.write(f"  {due} members due for renewal: the dashboard links the worklist (demo_coordinator sees VANDU's)")
        self.stdout.write("")
