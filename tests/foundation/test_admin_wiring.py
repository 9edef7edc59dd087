"""One way to add a page inside the admin: a URL pattern returned by a ``get_urls`` (the
ModelAdmin's, for a page about that model's rows; the site's, through each app's
``admin_urls(site)``, for the desk, the exports and the recall pages), whose view is a plain
function or a method wrapped in the site's ``admin_view``. No closure over the site, no
``functools.partial``, no page wired in the project's own URLs beside the admin."""

from __future__ import annotations

import functools

from django.contrib import admin
from django.urls import URLResolver, get_resolver

from tests.admin_urls import is_wrapped_in_admin_view, page_view, project_admin_patterns

# Pages that must open before the admin's permission check passes, each with the reason.
NOT_BEHIND_ADMIN_VIEW = {
    "two_factor": "it is where a signed-in user gives the second factor the admin then requires",
}


def test_the_project_adds_admin_pages_and_they_are_found():
    names = {p.name for p in project_admin_patterns(admin.site)}
    # One of each kind: a site page, a ModelAdmin page, the pages that were wired other ways.
    assert {"distributions_desk", "exports", "recalls_threshold", "members_member_enrol", "members_member_renewals",
            "testing_results_batch_check", "two_factor"} <= names


def test_every_admin_page_is_behind_the_admin_view_of_its_site():
    unwrapped = [p.name for p in project_admin_patterns(admin.site)
                 if not is_wrapped_in_admin_view(p.callback) and p.name not in NOT_BEHIND_ADMIN_VIEW]
    assert unwrapped == [], "wrap these in site.admin_view inside a get_urls"


def test_every_admin_page_view_is_a_plain_function_or_a_method():
    odd = []
    for pattern in project_admin_patterns(admin.site):
        view = page_view(pattern)
        if isinstance(view, functools.partial):
            odd.append(f"{pattern.name}: functools.partial (pass the site as a URL keyword instead)")
        elif "<locals>" in getattr(view, "__qualname__", "<locals>") or view.__name__ == "<lambda>":
            odd.append(f"{pattern.name}: a closure (make it a module function or a method)")
    assert odd == []


def test_the_project_urls_hold_no_admin_page():
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            continue  # the admin itself and i18n, included whole
        assert not is_wrapped_in_admin_view(pattern.callback), f"{pattern}: add it through an admin get_urls"
        assert not hasattr(pattern.callback, "admin_site") and not hasattr(pattern.callback, "model_admin")
        assert ".admin" not in page_view(pattern).__module__, f"{pattern}: add it through an admin get_urls"
