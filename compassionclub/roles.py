"""Roles are Django auth groups with fixed permission sets, kept in step by ``sync_roles``.

The README's role matrix is written from ``ROLE_PERMISSIONS``; per-group scoping (a coordinator
sees only their own groups) is applied on top of these permissions by the admin and services.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction


class Role:
    PROGRAMME_ADMIN = "Programme admin"
    COORDINATOR = "Coordinator"
    DRUG_CHECKER = "Drug checker"
    RELEASE_OFFICER = "Release officer"
    AUDITOR = "Auditor"

    ALL = (PROGRAMME_ADMIN, COORDINATOR, DRUG_CHECKER, RELEASE_OFFICER, AUDITOR)


def _view(*models: str) -> list[str]:
    return [f"{m.split('.')[0]}.view_{m.split('.')[1]}" for m in models]


_EVERYTHING_READABLE = [
    "members.membergroup", "members.member", "members.memberstatuschange",
    "testing_results.compound", "testing_results.substance", "testing_results.batch",
    "testing_results.batchstatuschange", "testing_results.drugcheck", "testing_results.finding",
    "testing_results.methodcapability",
    "distributions.account", "distributions.ledgerentry", "distributions.balance",
    "distributions.allowancepolicy", "distributions.allowanceoverride",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.PROGRAMME_ADMIN: _view(*_EVERYTHING_READABLE, "audit.auditrecord", "auth.user", "auth.group")
    + [
        "members.view_all_groups",
        "members.add_membergroup", "members.change_membergroup",
        "testing_results.add_compound", "testing_results.change_compound",
        "testing_results.add_substance", "testing_results.change_substance",
        "testing_results.change_methodcapability",
        "distributions.add_allowancepolicy", "distributions.change_allowancepolicy",
        "distributions.transfer_stock", "distributions.adjust_stock", "distributions.export_reports",
        "auth.add_user", "auth.change_user",
    ],
    Role.COORDINATOR: _view(
        "members.membergroup", "members.member", "members.memberstatuschange",
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.drugcheck", "testing_results.finding",
        "distributions.ledgerentry", "distributions.balance",
        "distributions.allowancepolicy", "distributions.allowanceoverride",
    )
    + [
        "members.add_member", "members.change_member", "members.reset_pin", "members.set_status",
        "distributions.record_distribution", "distributions.add_allowanceoverride",
        "distributions.export_reports",
    ],
    Role.DRUG_CHECKER: _view(
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.batchstatuschange", "testing_results.drugcheck", "testing_results.finding",
    )
    + ["testing_results.add_batch", "testing_results.add_drugcheck", "testing_results.view_lab_report"],
    Role.RELEASE_OFFICER: _view(
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.batchstatuschange", "testing_results.drugcheck", "testing_results.finding",
        "distributions.ledgerentry", "distributions.balance",
    )
    + ["testing_results.release_batch", "testing_results.view_lab_report"],
    Role.AUDITOR: _view(*_EVERYTHING_READABLE, "audit.auditrecord")
    + [
        "members.view_all_groups","distributions.export_reports", "testing_results.view_lab_report"],
}


def sync_roles() -> dict[str, int]:
    """Create or update every role group to exactly its permission set. Idempotent."""
    counts: dict[str, int] = {}
    with transaction.atomic():
        for role, perms in ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            wanted = []
            for dotted in perms:
                app_label, codename = dotted.split(".")
                perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
                if perm is None:
                    raise LookupError(f"Role {role!r} names unknown permission {dotted!r}.")
                wanted.append(perm)
            group.permissions.set(wanted)
            counts[role] = len(wanted)
    return counts


def sync_roles_after_migrate(**kwargs) -> None:
    # Permissions are created by auth's own post_migrate handler, which runs before ours
    # because "compassionclub" is the last installed app.
    sync_roles()


def user_has_role(user, role: str) -> bool:
    return user.is_active and user.groups.filter(name=role).exists()
