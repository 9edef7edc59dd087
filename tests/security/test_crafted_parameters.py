"""Crafted parameters never give a 500: every changelist filter, search, ordering and page
parameter of every admin list, and every export parameter, with NUL, huge, negative and
malformed values (PostgreSQL refuses NUL in a string; far-off dates overflowed while the CSV
was already streaming)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.test import RequestFactory
from django.urls import reverse

from compassionclub.audit.models import AuditRecord
from distributions.exports.base import ExportParams, registry
from distributions.exports.services import export_run

NASTY = ("\x00", "9" * 40, "-99999999999999999999", "-1", "9999", "1e309", "2026-13-45", "'\u202e%", "x" * 3000)


def filter_parameters(model_admin, user) -> set[str]:
    """Every query parameter the changelist's filters read, plus search, ordering and page."""
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = {SEARCH_VAR, ORDER_VAR, PAGE_VAR}
    for spec in changelist.get_filters(request)[0]:
        names.update(spec.expected_parameters())
    names.update(f for f in getattr(model_admin, "date_hierarchy", None) and
                 [f"{model_admin.date_hierarchy}__{p}" for p in ("year", "month", "day")] or [])
    return names


# The admin's lists in three parts of about the same size, so parallel workers share them.
LIST_PARTS = {"testing_results": {"testing_results"}, "distributions": {"distributions"}}


def _in_part(model, part: str) -> bool:
    label = model._meta.app_label
    if part == "others":
        return not any(label in labels for labels in LIST_PARTS.values())
    return label in LIST_PARTS[part]


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.parametrize("part", [*LIST_PARTS, "others"])
@pytest.mark.parametrize("who", ["pat", "alice"])
def test_no_changelist_parameter_gives_a_500(client, dataset, who, part, request, monkeypatch):
    # The navigation sidebar lists every model the user may see and reads no parameter of the
    # page; the other admin tests render it. Left out here, each of the ~1,700 requests costs
    # a third less.
    monkeypatch.setattr(admin.site, "enable_nav_sidebar", False)
    monkeypatch.setattr(admin.site, "get_app_list", lambda request, app_label=None: [])
    user = request.getfixturevalue(who)
    client.force_login(user)
    client.raise_request_exception = False
    failures = []
    for model, model_admin in admin.site._registry.items():
        if not _in_part(model, part) or not model_admin.has_view_permission(type("R", (), {"user": user})()):
            continue
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in sorted(filter_parameters(model_admin, user)):
            for value in NASTY:
                status = client.get(url, {name: value}).status_code
                if status >= 500:
                    failures.append(f"{url}?{name}={value[:20]!r} -> {status}")
    print("\n".join(failures))
    assert failures == []


EXPORT_FIELDS = ("format", "batch_id", "date_from", "date_to", "substance_id", "status", "period")


# One test per export, so parallel workers share them (a single one was the longest test here).
@pytest.mark.django_db
@pytest.mark.parametrize("identifier", list(registry()))
def test_no_export_parameter_gives_a_500_nor_an_audit_record(client, dataset, charlie, identifier):
    client.force_login(charlie)
    client.raise_request_exception = False
    failures = []
    exporter = registry()[identifier]
    url = reverse("admin:export", args=[identifier])
    for name in EXPORT_FIELDS:
        for value in NASTY:
            data = {"format": exporter.formats[0], name: value}
            response = client.post(url, data)
            if response.status_code >= 500:
                failures.append(f"{identifier} {name}={value[:20]!r} -> {response.status_code}")
            elif response.get("Content-Disposition"):
                # Accepted: it must stream to the end and be recorded as complete.
                b"".join(response.streaming_content) if response.streaming else response.content
    print("\n".join(failures))
    assert failures == []
    for record in AuditRecord.objects.filter(action__startswith="export."):
        assert record.new["completed"] is True, record.new


@pytest.mark.django_db
def test_a_far_off_date_is_refused_before_anything_streams(client, dataset, charlie):
    client.force_login(charlie)
    for identifier in ("ledger", "batch_reports", "distribution_summary"):
        response = client.post(reverse("admin:export", args=[identifier]), {"format": "csv", "period": "week", "date_to": "9999-12-31"})
        assert response.status_code == 200 and not response.get("Content-Disposition")
        assert "Dates must be between" in response.content.decode()
    assert not AuditRecord.objects.filter(action__startswith="export.").exists()


@pytest.mark.django_db
def test_a_csv_export_is_recorded_when_it_completes_not_before(client, dataset, charlie):
    client.force_login(charlie)
    response = client.post(reverse("admin:export", args=["ledger"]), {"format": "csv"})
    assert not AuditRecord.objects.filter(action="export.ledger").exists()
    body = b"".join(response.streaming_content)
    record = AuditRecord.objects.get(action="export.ledger")
    assert record.new["completed"] is True and record.new["bytes"] == len(body)


@pytest.mark.django_db
def test_a_download_cut_short_is_recorded_as_not_completed(dataset, charlie):
    output = export_run(identifier="ledger", user=charlie, params=ExportParams(), fmt="csv")
    first = next(output.chunks)
    output.chunks.close()  # the client went away: the server closes the response's iterator
    record = AuditRecord.objects.get(action="export.ledger")
    assert record.new["completed"] is False and record.new["bytes"] == len(first)


@pytest.mark.django_db
def test_a_download_cut_short_while_rows_are_still_being_read_is_recorded(dataset, charlie, monkeypatch):
    # On PostgreSQL the ledger's rows are read in a transaction of their own; the record of the
    # cut must not be rolled back with it.
    from distributions.exports import render

    monkeypatch.setattr(render, "FLUSH_BYTES", 1)
    output = export_run(identifier="ledger", user=charlie, params=ExportParams(), fmt="csv")
    first = next(output.chunks) + next(output.chunks)  # the header, then a row: rows still to come
    output.chunks.close()
    record = AuditRecord.objects.get(action="export.ledger")
    assert record.new["completed"] is False and record.new["bytes"] == len(first)
