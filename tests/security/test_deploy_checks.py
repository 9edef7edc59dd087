"""In production mode, the deploy check fails while a demo account or a superuser with a
default or unusable password exists."""

from __future__ import annotations

import pytest

from compassionclub.security.checks import check_no_demo_or_default_accounts
from tests import factories as f


@pytest.fixture
def production(settings):
    settings.DEMO_ACCOUNTS_ALLOWED = False


def _ids() -> set[str]:
    return {e.id for e in check_no_demo_or_default_accounts()}


@pytest.mark.django_db
def test_a_clean_production_database_passes(production, root, alice):
    assert _ids() == set()


@pytest.mark.django_db
def test_a_demo_account_fails_the_check(production):
    f.UserFactory(username="demo_coordinator")
    assert "security.E001" in _ids()


@pytest.mark.django_db
def test_a_superuser_with_a_default_password_fails_the_check(production):
    user = f.UserFactory(username="boss", is_superuser=True)
    user.set_password("admin")
    user.save()
    assert "security.E002" in _ids()


@pytest.mark.django_db
def test_a_superuser_without_a_usable_password_fails_the_check(production):
    user = f.UserFactory(username="boss", is_superuser=True)
    user.set_unusable_password()
    user.save()
    assert "security.E002" in _ids()


@pytest.mark.django_db
def test_development_allows_the_demo_accounts(settings):
    settings.DEMO_ACCOUNTS_ALLOWED = True
    f.UserFactory(username="demo_admin")
    assert _ids() == set()


def test_seed_demo_refuses_to_run_in_production(settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DEMO_ACCOUNTS_ALLOWED = False
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
