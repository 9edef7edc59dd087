"""The batch page, extended with what the ledger knows: who received the batch (for a recall)
and where its stock is. ``testing_results`` cannot import the ledger, so the extension lives
here and replaces the registration of ``testing_results.admin.BatchAdmin``."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from distributions.selectors import (
    batch_reach_by_group,
    batch_recipients,
    sees_batch_reach_everywhere,
    stock_by_group,
)
from distributions.visibility import sees_all_stock
from members.codes import format_code
from members.scoping import coordinated_group_ids, sees_all_groups
from testing_results.admin import BatchAdmin
from testing_results.models import Batch


class LedgerBatchAdmin(BatchAdmin):
    def extra_panels(self, request, batch: Batch) -> list[dict]:
        user = request.user
        recipients = batch_recipients(batch, user)
        scope = "" if sees_all_groups(user) else " (your groups only)"
        panels = []
        if batch.status != Batch.Status.QUARANTINED:
            reach_scope = "" if sees_batch_reach_everywhere(user) else " (your groups only)"
            panels.append({
                "title": f"Reach of this batch by group{reach_scope}",
                "columns": ["Group", "Grams in the group's store", "Members who received it", "Grams received"],
                "rows": [
                    [r.group_short_name, f"{r.store_grams} g", str(r.members), f"{r.received_grams} g"]
                    for r in batch_reach_by_group(batch, user)
                ],
                "empty": "No group holds or has handed out this batch.",
            })
        panels.append({
            "title": f"Who received this batch{scope}",
            "columns": ["Group", "Member code", "Grams", "When"],
            "rows": [
                [r.group_short_name, format_code(r.member_code), f"{r.grams} g",
                 timezone.localtime(r.occurred_at).strftime("%Y-%m-%d %H:%M")]
                for r in recipients
            ],
            "empty": (
                "Nobody has received this batch."
                if sees_all_groups(user) or coordinated_group_ids(user)
                else "Member codes show only to the members' coordinators; the reach by group above counts them."
            ),
        })
        if sees_all_stock(user):
            panels.append({
                "title": "Stock of this batch by store",
                "columns": ["Store", "Grams"],
                "rows": [[store, f"{grams} g"] for store, grams in stock_by_group(batch, user)],
                "empty": "No stock of this batch is held in any store.",
            })
        return panels


admin.site.unregister(Batch)
admin.site.register(Batch, LedgerBatchAdmin)
