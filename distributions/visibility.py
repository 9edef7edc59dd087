"""Who may see what: one selector per kind of record, used by every reader (the admin, the
desk, the exports, the dashboard, the batch page).

The rules, each written once:

- **Members**: programme admins and auditors (``members.view_all_groups``) and superusers see
  every member; a coordinator sees the members of the groups they coordinate; nobody else sees
  any (release officers and drug checkers hold no member data).
- **Ledger entries**: those who see every group see every entry; anyone else sees the entries
  that take stock from or put stock into a store of a group they coordinate. Every
  distribution leaves the member's group store, and its reversal returns there, so a
  coordinator's members' entries are among them; a transfer between two groups shows to the
  coordinators of both.
- **Stock** (balances): those who see every group, and the release officers and drug checkers
  who decide on batches, see the stock of every store (grams, never who received them); a
  coordinator sees their groups' stores.
- **Manifests** (stock on the road between stores) follow the stock rule: those who see every
  store's stock see every manifest; a coordinator sees the manifests leaving or reaching
  their groups' stores.
- **Counts** of a store follow the stock rule too, as do the stores a user is shown as overdue
  for a count.
- **A batch's reach** (per group: grams in the store, how many members received it, never
  their codes) shows in every group to those who see every group and to release officers.
- **Recall notices** show to the coordinators of the notice's group, and in every group to
  those who see a batch's reach everywhere (as counts: member codes come from the entries).
- **Allowance policies**: those who see every group see every policy; a coordinator sees the
  programme-wide defaults and their own groups' policies, never another group's.
- **Groups** (as choices in filters): those who see every group see them all; a coordinator
  their own.
- **Batches** are programme-wide: anyone who may view batches sees them all
  (``testing_results.selectors``, re-exported here).

Whether a user may open a page at all is a permission, checked where the page is; these
selectors only narrow the rows.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from distributions.models import Account, AllowancePolicy, Balance, LedgerEntry, Manifest, StockCount
from members.models import MemberGroup
from members.scoping import coordinated_group_ids, members_visible_to, scope_queryset, sees_all_groups
from testing_results.selectors import batches_visible_to

__all__ = [
    "allowance_policies_visible_to",
    "batches_visible_to",
    "coordinated_store_ids",
    "counts_visible_to",
    "entries_visible_to",
    "groups_visible_to",
    "manifests_visible_to",
    "members_visible_to",
    "notices_visible_to",
    "sees_all_stock",
    "sees_batch_reach_everywhere",
    "stock_visible_to",
    "stores_visible_to",
]


def coordinated_store_ids(user) -> frozenset[int]:
    """The accounts of the stores of the groups ``user`` coordinates (cached on the user)."""
    cache_name = "_coordinated_store_ids"
    cached = getattr(user, cache_name, None)
    if cached is None:
        ids = coordinated_group_ids(user)
        cached = (
            frozenset(Account.objects.filter(kind=Account.Kind.GROUP, group__in=ids).values_list("id", flat=True))
            if ids
            else frozenset()
        )
        setattr(user, cache_name, cached)
    return cached


def entries_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The ledger entries ``user`` may see (``qs`` narrowed, or every entry)."""
    qs = LedgerEntry.objects.all() if qs is None else qs
    if sees_all_groups(user):
        return qs
    # The store ids are resolved first: an OR over two indexed columns, where joins to the
    # accounts under an OR took seconds at two million entries.
    stores = coordinated_store_ids(user)
    if not stores:
        return qs.none()
    return qs.filter(store_scope(stores))


def store_scope(stores: frozenset[int]) -> Q:
    """The entries from or to one of ``stores`` (a coordinator's scope)."""
    return Q(from_account_id__in=stores) | Q(to_account_id__in=stores)


def sees_all_stock(user) -> bool:
    """Release officers and drug checkers decide on batches and need to know where the grams
    are; the balances name stores, never members."""
    return sees_all_groups(user) or bool(
        user.is_active
        and (user.has_perm("testing_results.release_batch") or user.has_perm("testing_results.add_drugcheck"))
    )


def sees_batch_reach_everywhere(user) -> bool:
    """Programme admins, auditors and release officers see how far a batch went in every
    group: a release officer holds or recalls a batch and needs the numbers (grams, how many
    members), never the member codes."""
    return sees_all_groups(user) or bool(user.is_active and user.has_perm("testing_results.release_batch"))


def stock_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The balances ``user`` may see (``qs`` narrowed, or every balance)."""
    qs = Balance.objects.all() if qs is None else qs
    if sees_all_stock(user):
        return qs
    return qs.filter(account__group__in=coordinated_group_ids(user))


def notices_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The recall notices ``user`` may see (``qs`` narrowed, or every notice)."""
    from distributions.recalls.models import RecallNotice

    qs = RecallNotice.objects.all() if qs is None else qs
    if sees_batch_reach_everywhere(user):
        return qs
    return qs.filter(group__in=coordinated_group_ids(user))


def manifests_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The manifests ``user`` may see (``qs`` narrowed, or every manifest)."""
    qs = Manifest.objects.all() if qs is None else qs
    if sees_all_stock(user):
        return qs
    stores = coordinated_store_ids(user)
    if not stores:
        return qs.none()
    return qs.filter(Q(from_store_id__in=stores) | Q(to_store_id__in=stores))


def stores_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The stores (central and group accounts) whose stock ``user`` may see."""
    qs = Account.objects.filter(kind__in=Account.STORE_KINDS) if qs is None else qs
    if sees_all_stock(user):
        return qs
    return qs.filter(pk__in=coordinated_store_ids(user))


def counts_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The stock counts ``user`` may see: those of the stores whose stock they see."""
    qs = StockCount.objects.all() if qs is None else qs
    if sees_all_stock(user):
        return qs
    return qs.filter(store_id__in=coordinated_store_ids(user))


def groups_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The member groups ``user`` may see (``qs`` narrowed, or every group)."""
    return scope_queryset(MemberGroup.objects.all() if qs is None else qs, user, "")


def allowance_policies_visible_to(user, qs: QuerySet | None = None) -> QuerySet:
    """The allowance policies ``user`` may see: every one for those who see every group, the
    programme-wide ones and their own groups' for a coordinator."""
    qs = AllowancePolicy.objects.all() if qs is None else qs
    if sees_all_groups(user):
        return qs
    return qs.filter(Q(group__isnull=True) | Q(group__in=coordinated_group_ids(user)))
