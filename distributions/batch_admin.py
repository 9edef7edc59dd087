"""The batch page, extended with what the ledger knows: who received the batch (for a recall)
and where its stock is. ``testing_results`` cannot import the ledger, so the extension lives
here and replaces the registration of ``testing_results.admin.BatchAdmin``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from distributions.custody_admin import receipt_view
from distributions.recalls.selectors import adverse_counts, adverse_outcomes, batch_notices
from distributions.selectors import (
    batch_reach_by_group,
    batch_recipients,
    reference_sample,
    sees_batch_reach_everywhere,
    stock_by_group,
)
from distributions.visibility import sees_all_stock
from members.codes import format_code
from members.scoping import coordinated_group_ids, sees_all_groups
from testing_results.admin import BatchAdmin
from testing_results.models import Batch


def _local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def _reference_panel(batch: Batch) -> dict:
    """The reference sample: what was retained at receipt, what is held, where it went."""
    ref = reference_sample(batch)
    if not ref.movements:
        title = "Reference sample: none retained"
    elif ref.held > 0:
        title = f"Reference sample: {ref.held} g held for retests (not distributable, not store stock)"
    else:
        title = "Reference sample: none left" + (" (destroyed, witnessed)" if ref.destroyed else "")
    return {
        "title": title,
        "columns": ["When", "Movement", "Grams", "By", "Witness"],
        "rows": [[_local(m.at), m.what, f"{m.grams} g", m.by, m.witness or "-"] for m in ref.movements],
        "empty": "No reference sample was retained when this batch was received.",
    }


class LedgerBatchAdmin(BatchAdmin):
    def add_view(self, request, form_url="", extra_context=None):
        # Receiving records the supplier's code and lot, the packages and a second person's
        # confirmation of the weight (``distributions.services.batch_receipt_record``).
        return receipt_view(self, request)

    def extra_panels(self, request, batch: Batch) -> list[dict]:
        user = request.user
        scope = "" if sees_all_groups(user) else " (your groups only)"
        reach_scope = "" if sees_batch_reach_everywhere(user) else " (your groups only)"
        panels = []
        # A quarantined or rejected batch has never been released (DESIGN.md's transitions):
        # no group can hold it and nobody can have received it, so neither panel is shown (an
        # empty "Who received" there only makes the reader wonder).
        if batch.status not in (Batch.Status.QUARANTINED, Batch.Status.REJECTED):
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
                    [r.group_short_name, format_code(r.member_code), f"{r.grams} g", _local(r.occurred_at)]
                    for r in batch_recipients(batch, user)
                ],
                "empty": (
                    "Nobody has received this batch."
                    if sees_all_groups(user) or coordinated_group_ids(user)
                    else "Member codes show only to the members' coordinators; the reach by group above counts them."
                ),
            })
        counts = adverse_counts(batch)
        if counts["total"]:
            panels.append({
                "title": (
                    f"Adverse events reported: {counts['total']} (severe {counts['severe']}, "
                    f"moderate {counts['moderate']}, mild {counts['mild']})"
                ),
                "columns": ["Outcome", "Reports"],
                "rows": [[outcome, str(n)] for outcome, n in adverse_outcomes(batch)],
                "empty": "",
            })
        notices = batch_notices(batch, user)
        if notices:
            panels.insert(0, {
                "title": "Recall notices" + reach_scope,
                "columns": ["Group", "Notice", "Grams in the group's store now", "Members told", "Acknowledged"],
                "rows": [
                    [
                        row.notice.group.short_name,
                        format_html(
                            '<a href="{}">{} {}</a>', reverse("admin:recalls_notice", args=[row.notice.pk]),
                            row.notice.get_kind_display(), _local(row.notice.issued_at),
                        ),
                        f"{row.store_grams_now} g",
                        f"{row.members_told} of {row.notice.members_count}",
                        (
                            f"{_local(row.notice.acknowledged_at)} by {row.notice.acknowledged_by.get_username()}"
                            if row.notice.is_acknowledged else "Not yet"
                        ),
                    ]
                    for row in notices
                ],
                "empty": "",
            })
        panels.append(_reference_panel(batch))
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
