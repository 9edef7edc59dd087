"""Admin for the ledger: accounts, balances and entries, all read-only, plus the reversal of one
entry with a coded reason. Nothing here writes to the ledger except through
``distributions.services``. Stock moves between stores only on a manifest
(``distributions.custody_admin``): the old transfer address sends there."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import connection
from django.db.models.sql.where import AND
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from compassionclub.admin_mixins import CappedCountPaginator, ReadOnlyAdminMixin
from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, LedgerEntry
from distributions.visibility import coordinated_store_ids, entries_visible_to, stock_visible_to, store_scope
from members.admin_mixins import GroupScopedAdminMixin, MemberCodeSearchMixin
from members.scoping import sees_all_groups

# The list's own order (the model's); a column sorted by hand pages the ordinary way.
NEWEST_FIRST = {("-id",), ("-pk",), ("-id", "-pk"), ("-pk", "-id")}


@admin.register(Account)
class AccountAdmin(GroupScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "kind", "group"]
    list_filter = ["kind"]
    list_select_related = ["group"]
    search_fields = ["group__short_name", "kind"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["account", "batch", "grams", "last_seq"]
    list_filter = ["account__kind", "batch__substance"]
    list_select_related = ["account__group", "batch"]
    search_fields = ["batch__code", "account__group__short_name"]
    show_full_result_count = False

    def get_queryset(self, request):
        return stock_visible_to(request.user, super().get_queryset(request))


class StoreRangesPaginator(CappedCountPaginator):
    """A coordinator's ledger list: the entries from or to their groups' stores, newest first.

    PostgreSQL answers that OR in id order by walking the primary key backwards and discarding
    every other group's entries, more the deeper the page (74,894 for the last page of the
    busiest group at ``bench_seed --scale 0.2``). Here the page's ids are read off each store's
    two ranges of the (account, id) indexes instead, newest first and no further than the page's
    end, merged by one UNION; then the page's rows by those ids; the capped count reads the
    same ranges. One query more than the ordinary paginator, none that grows with the ledger.
    SQLite cannot order or limit the parts of a UNION and keeps the ordinary page."""

    def __init__(self, *args, stores: frozenset[int] = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stores = sorted(stores)

    @cached_property
    def count(self) -> int:
        base = self.without_scope(self.object_list)
        if base is None:
            return super().count
        # The capped count from the same ranges, off the indexes alone (no heap, no OR).
        return min(self.union(base, self.CAP + 1).count(), self.CAP + 1)

    def page(self, number):
        qs = self.object_list
        base = self.without_scope(qs)
        if base is None:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.union(base, top).order_by("-id")[bottom:top])
        return self._get_page(qs.filter(id__in=ids), number, self)

    def union(self, base, limit: int):
        """The ids of the ``limit`` newest entries from and to each store. Each range stays inside
        the coordinator's scope by its own condition; with the scope's OR left in as well,
        PostgreSQL misjudged how many rows a store has (the same condition counted twice) and
        sorted all of them instead of reading the index backwards. UNION, not UNION ALL: an
        entry between two of the coordinator's stores is in both ranges."""
        ranges = [
            base.filter(**{column: store}).order_by("-id").values_list("id", flat=True)[:limit]
            for store in self.stores for column in ("from_account_id", "to_account_id")
        ]
        return ranges[0].union(*ranges[1:])

    def without_scope(self, qs):
        """The list's query without the coordinator's scope (``store_scope``), or None where the
        ordinary page is kept: no stores, SQLite, another order, or a scope not found."""
        if not self.stores or connection.vendor != "postgresql" or not hasattr(qs, "query"):
            return None
        if tuple(qs.query.order_by) not in NEWEST_FIRST:
            return None
        scope = LedgerEntry.objects.filter(store_scope(frozenset(self.stores))).query.where.children[0]
        base = qs.all()
        where = base.query.where
        kept = [child for child in where.children if child != scope]
        if where.connector != AND or where.negated or len(kept) != len(where.children) - 1:
            return None
        where.children = kept
        return base


class ReverseForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *LedgerEntry.ReversalReason.choices])


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MemberCodeSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "batch", "from_account", "to_account", "grams", "member", "occurred_at", "recorded_by"]
    list_filter = ["kind", "batch__substance"]
    list_select_related = ["batch", "from_account__group", "to_account__group", "member", "recorded_by"]
    search_fields = ["=batch__code", "=member__code", "=idempotency_key"]
    member_code_field = "member__code"
    member_code_exact = True
    show_full_result_count = False
    paginator = StoreRangesPaginator
    readonly_fields = ["reverse_link"]

    def get_queryset(self, request):
        return entries_visible_to(request.user, super().get_queryset(request))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        stores = frozenset() if sees_all_groups(request.user) else coordinated_store_ids(request.user)
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, stores=stores)

    @admin.display(description="Reverse")
    def reverse_link(self, obj):
        if obj.pk is None or obj.kind == LedgerEntry.Kind.REVERSAL or hasattr(obj, "reversed_by"):
            return "—"
        return format_html('<a href="{}">Reverse this entry…</a>', reverse("admin:distributions_ledgerentry_reverse", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:entry_id>/reverse/", view(self.reverse_view), name="distributions_ledgerentry_reverse"),
            path("transfer/", view(self.transfer_view), name="distributions_ledgerentry_transfer"),
            *super().get_urls(),
        ]

    def reverse_view(self, request, entry_id: int):
        entry = self.get_queryset(request).filter(pk=entry_id).first()
        if entry is None:
            raise Http404("No such entry.")
        form = ReverseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reversal = services.entry_reverse(entry=entry, reason=form.cleaned_data["reason"], by=request.user)
            except ServiceError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Entry #{entry.pk} reversed by entry #{reversal.pk}.")
                return HttpResponseRedirect(reverse("admin:distributions_ledgerentry_change", args=[reversal.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Reverse entry #{entry.pk}", "form": form,
                   "entry": entry, "submit_label": "Reverse"}
        return TemplateResponse(request, "admin/ledger/form.html", context)

    def transfer_view(self, request):
        # A transfer is a manifest now (sent, carried, received by weight); old bookmarks land there.
        return HttpResponseRedirect(reverse("admin:distributions_manifest_add"))
