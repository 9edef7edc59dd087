"""Admin for the ledger: accounts, balances and entries, all read-only, plus the reversal of one
entry with a coded reason. Nothing here writes to the ledger except through
``distributions.services``. Stock moves between stores only on a manifest
(``distributions.custody_admin``): the old transfer address sends there."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from compassionclub.admin_mixins import CappedCountPaginator, ReadOnlyAdminMixin
from compassionclub.errors import ServiceError
from distributions import services
from distributions.models import Account, Balance, LedgerEntry
from distributions.visibility import entries_visible_to, stock_visible_to
from members.admin_mixins import GroupScopedAdminMixin, MemberCodeSearchMixin


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
    paginator = CappedCountPaginator
    readonly_fields = ["reverse_link"]

    def get_queryset(self, request):
        return entries_visible_to(request.user, super().get_queryset(request))

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
