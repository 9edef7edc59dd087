"""seed_demo loads a coherent demo programme and a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from compassionclub import demo
from distributions.models import LedgerEntry, Manifest
from members.models import Member, MemberGroup, RetiredCode
from testing_results.models import Batch

PROJECT_APPS = {"audit", "members", "testing_results", "distributions"}


def _snapshot() -> dict[str, list]:
    """Every row of every project table, as values (codes and hashes included)."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS:
            rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return rows


@pytest.mark.django_db
def test_seed_demo_twice_leaves_the_same_data():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = _snapshot()
    call_command("seed_demo", stdout=StringIO())
    assert _snapshot() == first
    assert "demo_coordinator" in out.getvalue()
    assert demo.DEMO_PASSWORD in out.getvalue()
    assert "a replaced card: new code" in out.getvalue() and "members due for renewal" in out.getvalue()

    # What it loads: the ten groups, three released batches, one with fentanyl kept back,
    # and a ledger whose chains verify.
    assert set(MemberGroup.objects.values_list("short_name", flat=True)) == {g[0] for g in demo.GROUPS}
    assert Batch.objects.filter(status=Batch.Status.RELEASED).count() == 3
    fentanyl_batch = Batch.objects.get(status=Batch.Status.QUARANTINED)
    assert fentanyl_batch.checks.filter(findings__compound__name="Fentanyl", findings__result="detected").exists()
    assert not LedgerEntry.objects.filter(batch=fentanyl_batch, kind=LedgerEntry.Kind.DISTRIBUTION).exists()
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DISTRIBUTION).count() == 4
    # The renewals worklist has work (one overdue), and one member has a replaced card with
    # visits on both cards.
    today = timezone.localdate()
    due = Member.objects.filter(renewal_due__lte=today + dt.timedelta(days=30))
    assert due.count() == sum(len(days) for days in demo.RENEWALS_DUE.values())
    assert due.filter(renewal_due__lt=today, group__short_name="VANDU").count() == 1
    replaced = RetiredCode.objects.get()
    assert LedgerEntry.objects.filter(member=replaced.member, kind=LedgerEntry.Kind.DISTRIBUTION).count() == 2
    # Stock reached the groups on manifests received by their coordinators; one is on the road.
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER).exists()
    assert Manifest.objects.filter(status=Manifest.Status.RECEIVED).count() == 3 * len(demo.TRANSFERS)
    on_the_road = Manifest.objects.get(status=Manifest.Status.IN_TRANSIT)
    assert on_the_road.to_store.group.short_name == demo.IN_TRANSIT[0]
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "OK" in out.getvalue()


@pytest.mark.django_db
def test_seed_demo_refuses_production_mode(settings):
    settings.DEMO_ACCOUNTS_ALLOWED = False
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo", stdout=StringIO())
    assert not MemberGroup.objects.exists()


@pytest.mark.django_db
def test_the_logins_name_the_port_scripts_serve_runs_on(monkeypatch):
    monkeypatch.setenv("PORT", "8010")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "http://127.0.0.1:8010/admin/" in out.getvalue() and "http://127.0.0.1:8010/status/" in out.getvalue()
    assert ":8000" not in out.getvalue()
