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

import pytest
from django.contrib.auth.hashers import make_password

from compassionclub.roles import Role
from members.models import Region
from tests import factories as f


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # argon2 is the production hasher (and tested as such in the security tests); the rest
    # of the suite hashes with MD5 so that factories and logins stay fast.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


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
