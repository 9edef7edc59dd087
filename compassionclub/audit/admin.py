from django.contrib import admin

from compassionclub.admin_mixins import ReadOnlyAdminMixin
from compassionclub.audit.models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The trail, read-only for auditors and programme admins (``audit.view_auditrecord``).
    Nobody, superusers included, can add, change or delete a record here."""

    list_display = ["seq", "created_at", "actor_username", "ip_address", "action", "target_type", "target_repr"]
    list_filter = ["action", "target_type"]
    search_fields = ["action", "target_id", "actor_username"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        "seq", "created_at", "actor", "actor_username", "ip_address", "action", "target_type", "target_id",
        "target_repr", "old", "new", "prev_hash", "hash",
    ]
    list_select_related = ["actor"]
