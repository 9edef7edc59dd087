"""Every admin page a superuser can reach answers: changelists and add pages, and the change
page of one object of every registered model."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests import factories as f


@pytest.fixture
def one_of_everything(db):
    entry = f.LedgerEntryFactory()
    f.BalanceFactory(batch=entry.batch)
    f.MemberStatusChangeFactory()
    f.FindingFactory()
    f.BatchStatusChangeFactory()
    f.AllowancePolicyFactory()
    f.AllowanceOverrideFactory()
    f.AuditRecordFactory()


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.django_db
def test_every_changelist_and_add_page_answers_for_a_superuser(client, root, one_of_everything):
    client.force_login(root)
    for model, model_admin in _registered():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = client.get(changelist)
        assert response.status_code == 200, f"{changelist} answered {response.status_code}"
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        expected = 200 if model_admin.has_add_permission(response.wsgi_request) else 403
        response = client.get(add)
        assert response.status_code == expected, f"{add} answered {response.status_code}, expected {expected}"


@pytest.mark.django_db
def test_every_change_page_answers_for_a_superuser(client, root, one_of_everything):
    client.force_login(root)
    for model, _model_admin in _registered():
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        response = client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"


@pytest.mark.django_db
def test_no_ledger_or_check_or_audit_page_offers_delete(client, root, one_of_everything):
    client.force_login(root)
    from compassionclub.audit.models import AuditRecord
    from distributions.models import LedgerEntry
    from testing_results.models import DrugCheck, Finding

    for model in (LedgerEntry, DrugCheck, Finding, AuditRecord):
        model_admin = admin.site._registry[model]
        request = client.get(reverse("admin:index")).wsgi_request
        assert not model_admin.has_delete_permission(request)
        assert "delete_selected" not in model_admin.get_actions(request)
        obj = model._default_manager.first()
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[obj.pk]))
        assert response.status_code == 403


@pytest.mark.django_db
def test_view_site_goes_to_a_page_that_exists(client, root):
    client.force_login(root)
    html = client.get(reverse("admin:index")).content.decode()
    site_url = admin.site.site_url
    assert f'<a href="{site_url}">View site</a>' in html
    client.logout()
    assert client.get(site_url).status_code == 200
