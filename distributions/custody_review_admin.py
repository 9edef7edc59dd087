"""Admin for the review of flagged custody differences: the list of differences beyond the
tolerance still waiting (a manifest received short or over, a count line off), each marked
reviewed with a reason code by a programme admin or release officer through
``distributions.services.difference_review``; and the reviews already made, read-only.
Every POST redirects back to the list."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compassionclub.admin_mixins import NoDeleteAdminMixin
from compassionclub.errors import ServiceError
from distributions import services
from distributions.custody_selectors import flagged_unreviewed
from distributions.models import DifferenceReview, Manifest, StockCountLine


class ReviewForm(forms.Form):
    item = forms.RegexField(regex=r"^(manifest|count)-\d{1,12}$", widget=forms.HiddenInput)
    reason = forms.ChoiceField(
        label=gettext_lazy("What explains it"),
        choices=[("", gettext_lazy("Choose a reason…")), *DifferenceReview.Reason.choices],
    )

    def target(self) -> dict:
        kind, pk = self.cleaned_data["item"].split("-")
        # The service locks and reads the row itself (and refuses one that does not exist).
        return {"manifest": Manifest(pk=int(pk))} if kind == "manifest" else {"count_line": StockCountLine(pk=int(pk))}


@admin.register(DifferenceReview)
class DifferenceReviewAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "reason", "reviewed_by", "reviewed_at"]
    list_filter = ["reason"]
    list_select_related = ["manifest__batch", "manifest__to_store__group", "count_line__batch", "reviewed_by"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path("flagged/", self.admin_site.admin_view(self.flagged_view), name="distributions_differencereview_flagged"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"flagged_url": reverse("admin:distributions_differencereview_flagged"), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def flagged_view(self, request):
        """The differences waiting for review, each with a reason to choose; auditors read it."""
        user = request.user
        may_review = user.has_perm("distributions.review_difference")
        if not (may_review or self.has_view_permission(request)):
            raise PermissionDenied
        url = reverse("admin:distributions_differencereview_flagged")
        if request.method == "POST":
            if not may_review:
                raise PermissionDenied
            form = ReviewForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Choose what explains the difference."))
                return HttpResponseRedirect(url)
            try:
                review = services.difference_review(reason=form.cleaned_data["reason"], by=user, **form.target())
            except ServiceError as error:
                messages.error(request, error.message_text)
            else:
                messages.success(request, _("Reviewed: %(item)s.") % {"item": review})
            return HttpResponseRedirect(url)
        rows = flagged_unreviewed()
        context = {
            **self.admin_site.each_context(request), "title": _("Flagged differences waiting for review"),
            "opts": self.model._meta, "rows": rows, "may_review": may_review,
            "reasons": DifferenceReview.Reason.choices,
        }
        return TemplateResponse(request, "admin/custody/flagged.html", context)
