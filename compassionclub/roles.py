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
    "testing_results.methodcapability", "testing_results.instrument", "testing_results.striplot",
    "testing_results.method", "testing_results.detectionlimit", "testing_results.referencesamplepolicy",
    "distributions.account", "distributions.ledgerentry", "distributions.balance",
    "distributions.allowancepolicy", "distributions.allowanceoverride",
    "distributions.manifest", "distributions.custodypolicy", "distributions.witnesseddestruction",
    "distributions.stockcount", "distributions.differencereview",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.PROGRAMME_ADMIN: _view(*_EVERYTHING_READABLE, "audit.auditrecord", "auth.user", "auth.group")
    + [
        "members.view_all_groups",
        "members.add_membergroup", "members.change_membergroup",
        "testing_results.add_compound", "testing_results.change_compound",
        "testing_results.add_substance", "testing_results.change_substance",
        "testing_results.change_methodcapability",
        "testing_results.add_method", "testing_results.change_method",
        "testing_results.add_detectionlimit", "testing_results.change_detectionlimit",
        "testing_results.add_instrument", "testing_results.change_instrument",
        "testing_results.add_striplot", "testing_results.change_striplot",
        "testing_results.change_referencesamplepolicy",
        "distributions.add_allowancepolicy", "distributions.change_allowancepolicy",
        "distributions.change_custodypolicy", "distributions.add_manifest", "distributions.add_witnesseddestruction",
        "distributions.add_stockcount",
        "distributions.transfer_stock", "distributions.adjust_stock", "distributions.export_reports",
        "distributions.export_batch_report", "distributions.review_difference",
        "recalls.view_adverseeventthreshold", "recalls.change_adverseeventthreshold",
        "auth.add_user", "auth.change_user",
        # Unlock a staff user locked out by failed sign-ins.
        "axes.view_accessattempt", "axes.delete_accessattempt",
    ],
    Role.COORDINATOR: _view(
        "members.membergroup", "members.member", "members.memberstatuschange",
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.drugcheck", "testing_results.finding",
        "distributions.ledgerentry", "distributions.balance",
        "distributions.allowancepolicy", "distributions.allowanceoverride",
        "distributions.manifest", "distributions.witnesseddestruction", "distributions.stockcount",
    )
    + [
        "members.add_member", "members.change_member", "members.reset_pin", "members.set_status",
        "distributions.record_distribution", "distributions.add_allowanceoverride",
        # Send from and destroy in their own groups' stores (the services check which store).
        "distributions.add_manifest", "distributions.add_witnesseddestruction", "distributions.add_stockcount",
        "distributions.export_reports", "distributions.export_batch_report",
    ],
    Role.DRUG_CHECKER: _view(
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.batchstatuschange", "testing_results.drugcheck", "testing_results.finding",
        "testing_results.instrument", "testing_results.striplot", "testing_results.method",
        "testing_results.detectionlimit",
    )
    + ["testing_results.add_batch", "testing_results.add_drugcheck", "testing_results.view_lab_report",
       # Drug checkers keep the bench's records: a new strip lot, an instrument's verification.
       "testing_results.add_instrument", "testing_results.change_instrument",
       "testing_results.add_striplot", "testing_results.change_striplot"],
    Role.RELEASE_OFFICER: _view(
        "testing_results.compound", "testing_results.substance", "testing_results.batch",
        "testing_results.batchstatuschange", "testing_results.drugcheck", "testing_results.finding",
        "testing_results.instrument", "testing_results.striplot", "testing_results.method",
        "testing_results.detectionlimit",
        "distributions.ledgerentry", "distributions.balance", "distributions.differencereview",
    )
    + ["testing_results.release_batch", "testing_results.view_lab_report",
       # Flagged custody differences (a manifest or a count beyond the tolerance) get a second look.
       "distributions.review_difference",
       # The batch test report they release on, but none of the exports that carry member codes.
       "distributions.export_batch_report"],
    # Staff accounts (who did what) but never a password hash, TOTP key or backup code.
    Role.AUDITOR: _view(*_EVERYTHING_READABLE, "audit.auditrecord", "auth.user", "auth.group")
    + ["members.view_all_groups", "distributions.export_reports", "distributions.export_batch_report",
       "testing_results.view_lab_report",
       # Which member an old (replaced) card's code belonged to: for auditors only.
       "members.view_retiredcode"],
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


_ACTION_LETTERS = (("view", "V"), ("add", "A"), ("change", "C"), ("delete", "D"))
_SCOPE_NOTES = {
    Role.PROGRAMME_ADMIN: "every group",
    Role.COORDINATOR: "own groups only",
    Role.DRUG_CHECKER: "no member data",
    Role.RELEASE_OFFICER: "no member data",
    Role.AUDITOR: "every group, read-only",
}


def _split(dotted: str) -> tuple[str, str | None]:
    """("view", "members.member") for a model permission, (dotted, None) for a custom one."""
    from django.apps import apps

    app_label, codename = dotted.split(".")
    action, _, model_name = codename.partition("_")
    if action in {"view", "add", "change", "delete"}:
        try:
            apps.get_model(app_label, model_name)
        except LookupError:
            return dotted, None
        return action, f"{app_label}.{model_name}"
    return dotted, None


def role_matrix_markdown() -> str:
    """The README's role × model × action table, generated from ``ROLE_PERMISSIONS``."""
    from django.apps import apps

    every = {dotted for perms in ROLE_PERMISSIONS.values() for dotted in perms}
    models = sorted({label for dotted in every if (label := _split(dotted)[1]) is not None})
    custom = sorted(dotted for dotted in every if _split(dotted)[1] is None)
    lines = [
        "## Roles and what they may do",
        "",
        "Generated from `compassionclub/roles.py` (`manage.py roles_matrix --write`); a test keeps it in step.",
        "V view, A add, C change, D delete. Nobody deletes: history is corrected by reversals and",
        "status changes, and ledger, check and audit rows are read-only for everyone.",
        "",
        "| model | " + " | ".join(Role.ALL) + " |",
        "| --- |" + " --- |" * len(Role.ALL),
    ]
    for label in models:
        app_label, model_name = label.split(".")
        model = apps.get_model(app_label, model_name)
        cells = []
        for role in Role.ALL:
            perms = set(ROLE_PERMISSIONS[role])
            cells.append("".join(letter for action, letter in _ACTION_LETTERS if f"{app_label}.{action}_{model_name}" in perms) or "-")
        lines.append(f"| {model._meta.verbose_name} (`{label}`) | " + " | ".join(cells) + " |")
    lines.append("| **scope** | " + " | ".join(_SCOPE_NOTES[role] for role in Role.ALL) + " |")
    lines += ["", "Other permissions:", ""]
    for dotted in custom:
        holders = [role for role in Role.ALL if dotted in ROLE_PERMISSIONS[role]]
        lines.append(f"- `{dotted}`: {', '.join(holders)}")
    lines += [
        "",
        "Coordinators see and change only their own groups' members, status history, stock and",
        "ledger entries, everywhere in the admin (lists, pages by typed URL, history, dropdowns,",
        "autocomplete, actions, the desk, exports, the dashboard) and cannot move a member to another",
        "group. The audit trail is read by auditors and programme admins and written by nobody by",
        "hand. Every staff user signs in with a password and, in production, a TOTP code.",
    ]
    return "\n".join(lines)
