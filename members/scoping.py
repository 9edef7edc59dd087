"""Who sees which groups. One rule, used by the admin, the desk, exports and services.

Superusers and users with ``members.view_all_groups`` (programme admins, auditors) see every
group; everyone else sees only the groups they coordinate.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet


def sees_all_groups(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.has_perm("members.view_all_groups")))


def coordinated_group_ids(user) -> frozenset[int]:
    cache_name = "_coordinated_group_ids"
    cached = getattr(user, cache_name, None)
    if cached is None:
        cached = frozenset(user.coordinated_groups.values_list("id", flat=True)) if user.is_authenticated else frozenset()
        setattr(user, cache_name, cached)
    return cached


def is_coordinator_of(user, group_id: int) -> bool:
    return bool(user.is_active and group_id in coordinated_group_ids(user))


def scope_queryset(qs: QuerySet, user, group_path: str) -> QuerySet:
    """Limit ``qs`` to rows whose ``group_path`` (an ORM path to MemberGroup) the user may see.

    ``group_path`` may be empty for MemberGroup itself. A path that can be null (a ledger
    entry not tied to a group) only shows to users who see all groups.
    """
    if sees_all_groups(user):
        return qs
    ids = coordinated_group_ids(user)
    lookup = f"{group_path}__in" if group_path else "pk__in"
    return qs.filter(Q(**{lookup: ids}))


def members_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The members ``user`` may see: every member for programme admins and auditors, their own
    groups' members for coordinators, none for anyone else (release officers and drug checkers
    hold no member data). Re-exported by ``distributions.visibility``."""
    from members.models import Member

    return scope_queryset(Member.objects.all() if qs is None else qs, user, "group")
