"""Generated from the registry and the role matrix: every role against every admin URL
(changelist, search, add, change, history, delete, autocomplete, each action, the custom admin
pages) for its own group's and another group's objects. Statuses must match what the admin's
permissions and scoping say, and another group's member codes never appear in a body.

New models and pages are picked up as they are registered; one dataset per role keeps it fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from compassionclub.admin_site import LedgerAdminSite
from compassionclub.roles import ROLE_PERMISSIONS, Role, role_matrix_markdown
from compassionclub.security.management.commands.roles_matrix import readme_with_matrix
from members.admin_mixins import related_group_path
from members.models import Member, MemberGroup
from tests.admin_urls import project_admin_patterns

ROOT = Path(__file__).resolve().parents[2]

# Paths by which rows of a model belong to a group; a model with any of them holds group data.
GROUP_PATHS = (
    "group", "member__group", "account__group", "from_account__group", "to_account__group",
    "from_store__group", "to_store__group",
)
# Group-related rows that hold no member data and are deliberately visible to every coordinator.
NOT_SCOPED = {"distributions.allowancepolicy"}

ROLES = {
    "alice": Role.COORDINATOR,
    "bob": Role.COORDINATOR,
    "charlie": Role.AUDITOR,
    "dana": Role.RELEASE_OFFICER,
    "erin": Role.DRUG_CHECKER,
    "pat": Role.PROGRAMME_ADMIN,
    "root": None,
}


def test_the_batch_test_report_has_its_own_permission_beside_the_member_code_exports():
    """A release officer files the batch test report; the ledger and the other exports that can
    carry member codes stay with programme admins, coordinators (their groups) and auditors."""
    report, reports = "distributions.export_batch_report", "distributions.export_reports"
    assert [r for r in Role.ALL if report in ROLE_PERMISSIONS[r]] == [
        Role.PROGRAMME_ADMIN, Role.COORDINATOR, Role.RELEASE_OFFICER, Role.AUDITOR]
    assert [r for r in Role.ALL if reports in ROLE_PERMISSIONS[r]] == [Role.PROGRAMME_ADMIN, Role.COORDINATOR, Role.AUDITOR]


def test_the_readme_role_matrix_is_generated_from_the_roles():
    readme = (ROOT / "README.md").read_text()
    assert role_matrix_markdown() in readme
    assert readme_with_matrix(readme) == readme


def _groups_of(obj) -> set[int] | None:
    """The groups ``obj`` belongs to, or None if its model has no group at all."""
    model = type(obj)
    if model is MemberGroup:
        return {obj.pk}
    found: set[int] = set()
    has_path = False
    for path in GROUP_PATHS:
        try:
            values = model._default_manager.filter(pk=obj.pk).values_list(path, flat=True)
            found |= {v for v in values if v is not None}
            has_path = True
        except Exception:  # noqa: BLE001 - the path does not exist on this model
            continue
    return found if has_path else None


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _pick(model, group_id: int):
    if model is MemberGroup:
        return MemberGroup.objects.filter(pk=group_id).first()
    for path in GROUP_PATHS:
        try:
            obj = model._default_manager.filter(**{path: group_id}).order_by("pk").first()
        except Exception:  # noqa: BLE001
            continue
        if obj is not None:
            return obj
    return None


def _objects(model, data) -> list:
    """Group A's and group B's objects of ``model``, or one object if it has no group."""
    objs = [o for o in (_pick(model, data["group_a"].pk), _pick(model, data["group_b"].pk)) if o is not None]
    if objs:
        return objs
    first = model._default_manager.order_by("pk").first()
    return [first] if first is not None else []


def _custom_admin_urls(site) -> list[str]:
    urls = []
    for pattern in project_admin_patterns(site):
        try:
            urls.append(reverse(f"admin:{pattern.name}"))
        except NoReverseMatch:
            continue  # needs arguments
    return urls


class Walk:
    """One role's walk over the admin: every request made, every failure collected."""

    def __init__(self, client, user, username: str, dataset) -> None:
        self.client, self.user, self.username, self.dataset = client, user, username, dataset
        self.req = _request(user)
        self.own_group = {"alice": dataset["group_a"].pk, "bob": dataset["group_b"].pk}.get(username)
        self.foreign_codes: set[str] = {
            "alice": dataset["codes_b"],
            "bob": dataset["codes_a"],
            "erin": dataset["codes_a"] | dataset["codes_b"],
        }.get(username, set())
        self.failures: list[str] = []

    def hit(self, method: str, url: str, expected: set[int] | None, data: dict | None = None, echo: frozenset = frozenset()) -> None:
        # ``echo``: strings the user typed into this very request (a search term), which a page
        # may repeat back; every other form of another group's code must still be absent.
        client = self.client
        response = client.post(url, data or {}) if method == "POST" else client.get(url, data or {})
        if response.status_code >= 500:
            self.failures.append(f"{method} {url}: {response.status_code}")
        if expected is not None and response.status_code not in expected:
            self.failures.append(f"{method} {url}: {response.status_code}, expected {sorted(expected)}")
        body = response.content.decode(errors="replace")
        for code in self.foreign_codes - echo:
            if code in body:
                self.failures.append(f"{method} {url}: shows another group's member code {code}")

    def model(self, model, model_admin) -> None:
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        req = self.req
        may_view = model_admin.has_view_or_change_permission(req)
        # The admin never grants more than the role matrix.
        if ROLES[self.username] is not None:
            perms = set(ROLE_PERMISSIONS[ROLES[self.username]])
            if may_view:
                assert {f"{opts.app_label}.view_{opts.model_name}", f"{opts.app_label}.change_{opts.model_name}"} & perms, opts.label_lower
            if model_admin.has_add_permission(req):
                assert f"{opts.app_label}.add_{opts.model_name}" in perms, opts.label_lower
        self.hit("GET", reverse(f"{name}_changelist"), {200} if may_view else {403})
        for code in sorted(self.foreign_codes)[:1]:
            self.hit("GET", reverse(f"{name}_changelist"), {200, 302} if may_view else {403}, {"q": code}, frozenset({code}))
        may_add = model_admin.has_add_permission(req)
        # A custom add page (the enrolment page) may answer a role without add permission
        # with a notice instead of a 403; its service refuses the write either way.
        custom_add = type(model_admin).add_view is not admin.ModelAdmin.add_view
        self.hit("GET", reverse(f"{name}_add"), {200} if may_add else ({200, 403} if custom_add else {403}))
        visible_qs = model_admin.get_queryset(req)
        for obj in _objects(model, self.dataset):
            self.obj(model, model_admin, name, obj, visible_qs)
        for field_name in model_admin.get_autocomplete_fields(req):
            self.autocomplete(model, field_name)

    def obj(self, model, model_admin, name: str, obj, visible_qs) -> None:
        req, label = self.req, model._meta.label_lower
        groups = _groups_of(obj)
        foreign = self.own_group is not None and groups is not None and self.own_group not in groups
        visible = visible_qs.filter(pk=obj.pk).exists()
        # Independent of the admin's own rules: another group's row is out of reach.
        if foreign and label not in NOT_SCOPED and visible:
            self.failures.append(f"{label} #{obj.pk} of groups {groups} is visible to {self.username}")
        seen = obj if visible else None
        args = [obj.pk]
        change = 403 if not model_admin.has_view_or_change_permission(req, seen) else (200 if visible else 302)
        self.hit("GET", reverse(f"{name}_change", args=args), {change})
        history = 302 if not visible else (200 if model_admin.has_view_or_change_permission(req, obj) else 403)
        self.hit("GET", reverse(f"{name}_history", args=args), {history})
        delete = 403 if not model_admin.has_delete_permission(req, seen) else (200 if visible else 302)
        self.hit("GET", reverse(f"{name}_delete", args=args), {delete})
        if visible:
            return
        before = model_to_dict(obj)
        self.hit("POST", reverse(f"{name}_change", args=args), {403, 302}, {})
        for action in model_admin.get_actions(req):
            self.hit("POST", reverse(f"{name}_changelist"), {200, 302, 403}, {"action": action, "_selected_action": [obj.pk]})
        obj.refresh_from_db()
        if model_to_dict(obj) != before:
            self.failures.append(f"{label} #{obj.pk} of another group was changed by {self.username}")

    def autocomplete(self, model, field_name: str) -> None:
        opts, site = model._meta, admin.site
        remote = site._registry.get(opts.get_field(field_name).remote_field.model)
        query = {"app_label": opts.app_label, "model_name": opts.model_name, "field_name": field_name, "term": ""}
        expected = {200} if remote is not None and remote.has_view_permission(self.req) else {403}
        self.hit("GET", reverse("admin:autocomplete"), expected, query)
        if self.own_group is None or related_group_path(site, remote.model if remote else None) is None:
            return
        response = self.client.get(reverse("admin:autocomplete"), query)
        if response.status_code == 200:
            other = self.dataset["group_b"] if self.username == "alice" else self.dataset["group_a"]
            ids = {row["id"] for row in response.json()["results"]}
            if remote.model is MemberGroup and str(other.pk) in ids:
                self.failures.append(f"autocomplete {opts.label_lower}.{field_name} offers another group to {self.username}")

    def custom_pages(self) -> None:
        for url in _custom_admin_urls(admin.site):
            self.hit("GET", url, None)
            other_member: Member = self.dataset["member_b"] if self.username == "alice" else self.dataset["member_a"]
            typed = other_member.code
            self.hit("GET", url, None, {"code": typed, "member": typed, "q": typed, "group": other_member.group_id},
                     frozenset({typed, other_member.display_code}))


@pytest.mark.django_db
@pytest.mark.parametrize("username", list(ROLES))
def test_every_admin_url_answers_as_the_matrix_says_and_leaks_no_other_groups_member(client, request, username, dataset):
    user = request.getfixturevalue(username)
    client.force_login(user)
    site: LedgerAdminSite = admin.site
    walk = Walk(client, user, username, dataset)
    for model, model_admin in sorted(site._registry.items(), key=lambda item: item[0]._meta.label):
        walk.model(model, model_admin)
    walk.custom_pages()
    assert not walk.failures, "\n".join(walk.failures)


@pytest.mark.django_db
def test_a_coordinator_cannot_move_a_member_to_another_group(client, alice, dataset):
    member = dataset["member_a"]
    client.force_login(alice)
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "group" not in form.fields
    member.refresh_from_db()
    assert member.group == dataset["group_a"]


@pytest.mark.django_db
def test_foreign_key_choices_offer_only_the_coordinators_groups(alice, dataset):
    from django.contrib import admin as django_admin

    member_admin = django_admin.site._registry[Member]
    field = member_admin.formfield_for_foreignkey(Member._meta.get_field("group"), _request(alice))
    assert list(field.queryset) == [dataset["group_a"]]


@pytest.mark.django_db
def test_the_recent_actions_box_names_only_what_a_coordinator_may_still_see(client, alice, pat, dataset):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    for user in (alice, pat):
        for member in (dataset["member_a"], dataset["member_b"]):
            LogEntry.objects.create(
                user=user, content_type=ContentType.objects.get_for_model(Member), object_id=str(member.pk),
                object_repr=str(member), action_flag=CHANGE, change_message="[]",
            )
    client.force_login(alice)
    page = client.get("/admin/").content.decode()
    assert str(dataset["member_b"]) not in page and str(dataset["member_a"]) in page
    client.force_login(pat)
    assert str(dataset["member_b"]) in client.get("/admin/").content.decode()
    # A coordinator who leaves a group no longer sees its members named there.
    dataset["group_a"].coordinators.remove(alice)
    client.force_login(alice)
    assert str(dataset["member_a"]) not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_a_coordinators_page_without_the_recent_actions_box_does_not_build_its_filter(client, alice, dataset, monkeypatch):
    built = []
    visible = LedgerAdminSite._visible_log_entries
    monkeypatch.setattr(LedgerAdminSite, "_visible_log_entries", lambda site, request: built.append(request.path) or visible(site, request))
    client.force_login(alice)
    assert client.get(reverse("admin:members_member_changelist")).status_code == 200
    assert built == []
    assert client.get("/admin/").status_code == 200
    assert built == ["/admin/"]


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["alice", "pat"])
def test_the_index_builds_the_app_list_once_and_lists_what_a_fresh_build_lists(client, request, username, dataset, monkeypatch):
    user = request.getfixturevalue(username)
    builds = []
    build = admin.AdminSite._build_app_dict
    monkeypatch.setattr(admin.AdminSite, "_build_app_dict", lambda site, req, label=None: builds.append(label) or build(site, req, label))
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200 and builds == [None]
    assert response.context["app_list"] is response.context["available_apps"]
    assert response.context["app_list"] == admin.AdminSite.get_app_list(admin.site, _request(user))
