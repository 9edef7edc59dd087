"""Edits to reference data and staff accounts made in the admin leave an audit record."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from compassionclub.roles import Role
from tests import factories as f


@pytest.mark.django_db
def test_giving_a_group_a_coordinator_is_recorded_with_old_and_new_values(client, pat, group_a):
    newcomer = f.UserFactory(username="newcomer", roles=[Role.COORDINATOR])
    client.force_login(pat)
    response = client.post(
        reverse("admin:members_membergroup_change", args=[group_a.pk]),
        {"name": group_a.name, "short_name": group_a.short_name, "region": group_a.region, "is_active": "on",
         "coordinators": [newcomer.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    record = AuditRecord.objects.get(action="membergroup.changed")
    assert record.actor == pat and record.target_id == str(group_a.pk)
    assert record.old == {"coordinators": []} and record.new == {"coordinators": ["newcomer"]}


@pytest.mark.django_db
def test_a_staff_users_new_role_is_recorded_and_no_password_reaches_the_trail(client, root):
    client.force_login(root)
    response = client.post(
        reverse("admin:auth_user_add"),
        {"username": "newstaff", "password1": "a long enough passphrase 42", "password2": "a long enough passphrase 42",
         "usable_password": "true"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    added = AuditRecord.objects.get(action="user.added")
    assert "a long enough passphrase" not in str(added.new)
    assert AuditRecord.objects.filter(action="user.added").count() == 1


@pytest.mark.django_db
def test_an_unchanged_save_writes_nothing(client, pat, group_a):
    client.force_login(pat)
    client.post(
        reverse("admin:members_membergroup_change", args=[group_a.pk]),
        {"name": group_a.name, "short_name": group_a.short_name, "region": group_a.region, "is_active": "on"},
    )
    assert not AuditRecord.objects.filter(action="membergroup.changed").exists()
