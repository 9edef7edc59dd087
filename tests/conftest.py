"""Shared fixtures: a handful of named actors, built once per test.

- alice: coordinator of VANDU (group A)
- bob: coordinator of SOLID (group B)
- carol: second coordinator of VANDU (for the two-coordinator override)
- charlie: auditor
- dana: release officer
- erin: drug checker
- pat: programme admin
- root: superuser
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password

from compassionclub.roles import Role
from members.models import Region
from tests import factories as f


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    """The slow tests first, each among the tests of its kind, so that a run ends on short ones.

    The browser tests go first (they stay together: one browser is opened for them while they
    run), the tests marked ``slow`` first among the rest; then pytest-django, inside this
    wrapper, sorts the tests into the order Django runs them (those in a rolled-back
    transaction, then the transactional ones, then those without a database), and its sort
    keeps ours within each kind. The two workers hand each other tests that have not started
    yet; a run whose last test was a 10-second browser walk left one worker idle for that long
    (``scripts/test``).
    """
    items.sort(key=lambda item: (item.get_closest_marker("browser") is None, item.get_closest_marker("slow") is None))
    return (yield)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # argon2 is the production hasher (and tested as such in the security tests); the rest
    # of the suite hashes with MD5 so that factories and logins stay fast.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


# A SQLite database exactly as the migrations leave it, once per test process (see migrated_sqlite).
_MIGRATED: dict[str, Path] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, tmp_path_factory):
    """The test database; on SQLite also a copy of it taken before any test has run, for the
    tests whose child processes need a migrated database of their own (``migrated_sqlite``)."""
    from django.db import connection

    if connection.vendor == "sqlite":
        path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
        with django_db_blocker.unblock():
            connection.ensure_connection()
            _sqlite_copy(connection.connection, path)
        _MIGRATED["path"] = path


def _sqlite_copy(source: sqlite3.Connection, path: Path) -> None:
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()


@pytest.fixture
def migrated_sqlite(django_db_setup, tmp_path_factory):
    """``migrated_sqlite(path)`` writes a migrated SQLite database to ``path``, for a child
    process (``SQLITE_PATH``): a copy, so each test that starts one no longer runs the 70-odd
    migrations again (seconds each). On SQLite runs the copy is of the test database as the
    migrations left it; on PostgreSQL runs ``manage.py migrate`` fills a file once per process."""
    if "path" not in _MIGRATED:
        path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEST_DATABASE_NAME"}}
        env.update({"SQLITE_PATH": str(path), "DJANGO_ENV": "test"})
        done = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=settings.BASE_DIR,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        _MIGRATED["path"] = path

    def copy_to(path: Path) -> Path:
        source = sqlite3.connect(_MIGRATED["path"])
        try:
            _sqlite_copy(source, path)
        finally:
            source.close()
        return path

    return copy_to


@pytest.fixture
def group_a(db):
    return f.MemberGroupFactory(short_name="VANDU", name="Vancouver Area Network of Drug Users", region=Region.VANCOUVER_COASTAL)


@pytest.fixture
def group_b(db):
    return f.MemberGroupFactory(short_name="SOLID", name="Society of Living Illicit Drug Users", region=Region.ISLAND)


@pytest.fixture
def alice(group_a):
    user = f.UserFactory(username="alice", roles=[Role.COORDINATOR])
    group_a.coordinators.add(user)
    return user


@pytest.fixture
def carol(group_a):
    user = f.UserFactory(username="carol", roles=[Role.COORDINATOR])
    group_a.coordinators.add(user)
    return user


@pytest.fixture
def bob(group_b):
    user = f.UserFactory(username="bob", roles=[Role.COORDINATOR])
    group_b.coordinators.add(user)
    return user


@pytest.fixture
def charlie(db):
    return f.UserFactory(username="charlie", roles=[Role.AUDITOR])


@pytest.fixture
def dana(db):
    return f.UserFactory(username="dana", roles=[Role.RELEASE_OFFICER])


@pytest.fixture
def erin(db):
    return f.UserFactory(username="erin", roles=[Role.DRUG_CHECKER])


@pytest.fixture
def pat(db):
    return f.UserFactory(username="pat", roles=[Role.PROGRAMME_ADMIN])


@pytest.fixture
def root(db):
    return f.UserFactory(username="root", is_superuser=True)


@pytest.fixture
def heroin(db):
    return f.SubstanceFactory(name="Heroin")


@pytest.fixture
def cocaine(db):
    return f.SubstanceFactory(name="Cocaine")


@pytest.fixture
def member(group_a, alice):
    """A member of group A, enrolled by alice (a factory member: no PIN hashing)."""
    return f.MemberFactory(group=group_a, created_by=alice)


@pytest.fixture
def pin_hash():
    return make_password("482915")
