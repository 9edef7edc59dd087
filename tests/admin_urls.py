"""The pages the project adds to the admin, found by walking the admin's URLs: the site's own
``get_urls`` and every ModelAdmin's, less the pages Django's admin makes itself."""

from __future__ import annotations

import inspect
from pathlib import Path

from django.contrib.admin.sites import AdminSite
from django.urls import URLPattern, URLResolver

# Pages every AdminSite and every ModelAdmin has without the project asking.
SITE_PAGES = {"index", "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n",
              "view_on_site", "app_list"}
MODEL_PAGES = ("_changelist", "_add", "_history", "_delete", "_change")


def _patterns(patterns) -> list[URLPattern]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _patterns(pattern.url_patterns)
        else:
            found.append(pattern)
    return found


def project_admin_patterns(site: AdminSite) -> list[URLPattern]:
    model_pages = {f"{m._meta.app_label}_{m._meta.model_name}{suffix}" for m in site._registry for suffix in MODEL_PAGES}
    return [
        p for p in _patterns(site.get_urls())
        if p.name and p.name not in SITE_PAGES and p.name not in model_pages
    ]


def page_view(pattern: URLPattern):
    """The view the project wrote, under the wrappers (``admin_view``, ``csrf_protect``...)."""
    return inspect.unwrap(pattern.callback)


def is_wrapped_in_admin_view(callback) -> bool:
    """Whether ``AdminSite.admin_view``'s permission check runs before ``callback``'s view:
    its inner function sits somewhere in the wrappers' closures."""
    sites_py = Path(inspect.getfile(AdminSite)).resolve()
    seen, stack = set(), [callback]
    while stack:
        func = stack.pop()
        if id(func) in seen:
            continue
        seen.add(id(func))
        code = getattr(func, "__code__", None)
        if code is not None and code.co_name == "inner" and Path(code.co_filename).resolve() == sites_py:
            return True
        for cell in getattr(func, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value):
                stack.append(value)
    return False
