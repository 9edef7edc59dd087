"""Production mode refuses to start half-configured, and passes the deploy check when configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + "Zq8#vX2!mR7@pL4$wN9%tB6^yH3&jF5*cD1(" + "s" * 10


@pytest.fixture(autouse=True)
def own_files(tmp_path, monkeypatch):
    """Each subprocess reads a database and private storage of its own under tmp_path, never
    the developer's var/ (where scripts/serve leaves demo accounts) or DATABASE_URL."""
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "db.sqlite3"))
    monkeypatch.setenv("PRIVATE_STORAGE_ROOT", str(tmp_path / "private"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


def _run(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_mode_refuses_to_start_without_a_secret_key():
    result = _run({"DJANGO_ENV": "production", "ALLOWED_HOSTS": "ledger.example.org"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_mode_refuses_to_start_without_allowed_hosts():
    result = _run({"DJANGO_ENV": "production", "SECRET_KEY": GOOD_KEY}, "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_production_mode_refuses_debug():
    result = _run(
        {"DJANGO_ENV": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "x.org", "DJANGO_DEBUG": "true"}, "check"
    )
    assert result.returncode != 0
    assert "DJANGO_DEBUG" in result.stderr


def test_an_unknown_environment_name_is_refused():
    result = _run({"DJANGO_ENV": "prod"}, "check")
    assert result.returncode != 0
    assert "DJANGO_ENV" in result.stderr


PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "ledger.example.org"}


def test_production_mode_passes_the_deploy_check(own_files, migrated_sqlite):
    # A migrated database of the test's own, so the account checks have tables to read.
    migrated_sqlite(own_files / "db.sqlite3")
    result = _run(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    # The check reads that database and nothing else: a demo account in it fails the check.
    created = _run({"DJANGO_ENV": "test"}, "shell", "-c",
                   "from django.contrib.auth.models import User; User.objects.create(username='demo_checker')")
    assert created.returncode == 0, created.stderr
    result = _run(PRODUCTION, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "demo_checker" in result.stderr


def test_development_defaults_use_sqlite_in_immediate_mode(settings):
    if settings.DATABASE_URL:
        pytest.skip("this run is on DATABASE_URL")
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_time_zone_is_vancouver_and_aware(settings):
    assert settings.TIME_ZONE == "America/Vancouver"
    assert settings.USE_TZ is True
