"""Admin for allowance policies and overrides. Every write goes through
``distributions.services`` (``allowance_policy_set``, ``allowance_override_grant``); a refusal
comes back to the form as a form error and nothing is stored.

An override needs a second coordinator of the member's group, and that second coordinator must
really act, not just be named: they confirm on the same screen, at the same desk, with their own
password and, when they have two-factor set up or two-factor is required, the current code from
their own authenticator. ``allowance_override_grant`` checks both, so no caller can skip it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from compassionclub.admin_mixins import NoDeleteAdminMixin
from compassionclub.audit.admin_mixins import admin_recent_action
from compassionclub.errors import ServiceError
from distributions.models import AllowanceOverride, AllowancePolicy
from distributions.services import allowance_override_grant, allowance_policy_set
from distributions.services.allowances import MAX_WINDOW_DAYS, OVERRIDE_MAX_DAYS
from distributions.visibility import allowance_policies_visible_to, groups_visible_to
from members.admin_mixins import GroupScopedAdminMixin
from members.codes import is_valid_code, normalise_code
from members.models import Member, MemberGroup
from members.scoping import coordinated_group_ids
from testing_results.models import Substance

TEMPLATE = "admin/allowances/form.html"


class PolicyForm(forms.Form):
    substance = forms.ModelChoiceField(queryset=Substance.objects.order_by("name"))
    group = forms.ModelChoiceField(
        queryset=MemberGroup.objects.order_by("short_name"), required=False, empty_label="Programme-wide (every group)",
        help_text="Leave on programme-wide for the default. A group's allowance may only be stricter.",
    )
    max_grams = forms.DecimalField(label="Grams", max_digits=10, decimal_places=3, min_value=Decimal("0.001"))
    window_days = forms.IntegerField(
        label="Rolling window (days)", min_value=1, max_value=MAX_WINDOW_DAYS,
        help_text="Grams handed out count against the allowance for this many days.",
    )

    def __init__(self, *args, policy: AllowancePolicy | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if policy is not None:
            # Which substance and group a policy is for never changes; only its figures do.
            for name in ("substance", "group"):
                self.fields[name].disabled = True
                self.fields[name].help_text = ""


class VisibleGroupFilter(admin.RelatedFieldListFilter):
    """The group filter offers only the groups the user may see."""

    def field_choices(self, field, request, model_admin):
        return [(g.pk, str(g)) for g in groups_visible_to(request.user).order_by("short_name")]


@admin.register(AllowancePolicy)
class AllowancePolicyAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["substance", "group", "max_grams", "window_days"]
    list_filter = ["substance", ("group", VisibleGroupFilter)]
    list_select_related = ["substance", "group"]
    search_fields = ["substance__name", "group__short_name"]
    autocomplete_fields = ["substance", "group"]
    readonly_fields = ["created_by", "created_at"]

    def get_queryset(self, request):
        # Lists, change pages by typed URL, history and autocomplete all start here.
        return allowance_policies_visible_to(request.user, super().get_queryset(request))

    def _context(self, request, title: str, **extra) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **extra}

    @staticmethod
    def _set(form: PolicyForm, request: HttpRequest) -> AllowancePolicy | None:
        data = form.cleaned_data
        try:
            return allowance_policy_set(
                substance=data["substance"], group=data["group"], max_grams=data["max_grams"],
                window_days=data["window_days"], by=request.user,
            )
        except ServiceError as error:
            form.add_error(None, error)
            return None

    @staticmethod
    def _done(request: HttpRequest, policy: AllowancePolicy) -> HttpResponse:
        admin_recent_action(request, policy, "Allowance set.")
        messages.success(request, f"Allowance saved: {policy}.")
        return HttpResponseRedirect(reverse("admin:distributions_allowancepolicy_changelist"))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PolicyForm(request.POST or None, initial={"max_grams": Decimal("14.000"), "window_days": 7})
        if request.method == "POST" and form.is_valid():
            policy = self._set(form, request)
            if policy is not None:
                return self._done(request, policy)
        return TemplateResponse(request, TEMPLATE, self._context(request, "Set an allowance", form=form, submit="Save"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        policy = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        if policy is None or not self.has_change_permission(request, policy):
            # Read-only users get the admin's own view page (and its 302/403 for a missing row).
            return super().change_view(request, object_id, form_url, extra_context)
        initial = {"substance": policy.substance, "group": policy.group,
                   "max_grams": policy.max_grams, "window_days": policy.window_days}
        form = PolicyForm(request.POST or None, initial=initial, policy=policy)
        if request.method == "POST" and form.is_valid():
            policy = self._set(form, request)
            if policy is not None:
                return self._done(request, policy)
        return TemplateResponse(request, TEMPLATE, self._context(
            request, f"Change the allowance {policy}", form=form, submit="Save",
            note=f"Set by {policy.created_by} on {timezone.localtime(policy.created_at):%Y-%m-%d}.",
        ))


class OverrideForm(forms.Form):
    member_code = forms.CharField(label="Member code", max_length=40)
    substance = forms.ModelChoiceField(queryset=Substance.objects.order_by("name"))
    max_grams = forms.DecimalField(
        label="Grams allowed", max_digits=10, decimal_places=3, min_value=Decimal("0.001"),
        help_text="The member's limit for this substance while the override lasts, in the usual window.",
    )
    starts_on = forms.DateField(label="From (date)", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(
        label="Until the end of (date)", widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"At most {OVERRIDE_MAX_DAYS} days.",
    )
    reason = forms.ChoiceField(choices=[("", "Choose a reason…"), *AllowanceOverride.Reason.choices])
    approver = forms.ModelChoiceField(
        label="Approving coordinator", queryset=get_user_model().objects.none(),
        help_text="A second coordinator of the member's group, here with you now.",
    )
    approver_password = forms.CharField(
        label="Approving coordinator's password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    approver_code = forms.CharField(
        label="Approving coordinator's two-factor code", required=False, max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text="From their authenticator app, if they have two-factor set up.",
    )

    def __init__(self, *args, requester, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requester = requester
        groups = coordinated_group_ids(requester)
        self.fields["approver"].queryset = (
            get_user_model().objects.filter(is_active=True, coordinated_groups__in=groups)
            .exclude(pk=requester.pk).distinct().order_by("username")
        )

    def clean_member_code(self) -> Member:
        code = normalise_code(self.cleaned_data["member_code"])
        member = None
        if is_valid_code(code):
            member = Member.objects.select_related("group").filter(
                code=code, group_id__in=coordinated_group_ids(self.requester)
            ).first()
        if member is None:
            raise forms.ValidationError("No member with that code in your groups. Check the code on the card.")
        return member

    def period(self) -> tuple[dt.datetime, dt.datetime]:
        """From the start of the first day to the end of the last, in the programme's time zone."""
        zone = timezone.get_current_timezone()
        starts = dt.datetime.combine(self.cleaned_data["starts_on"], dt.time.min, tzinfo=zone)
        ends = dt.datetime.combine(self.cleaned_data["ends_on"] + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        return starts, ends


@admin.register(AllowanceOverride)
class AllowanceOverrideAdmin(GroupScopedAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    """Overrides are history: shown, granted through the service, never edited or deleted."""

    group_path = "member__group"
    list_display = ["member", "substance", "max_grams", "valid_from", "valid_until", "reason",
                    "requested_by", "approved_by"]
    list_select_related = ["member", "substance", "requested_by", "approved_by"]
    search_fields = ["member__code"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """Grant an override: asked for by the signed-in coordinator, approved on the spot by
        a second coordinator of the member's group."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Grant an allowance override",
                   "opts": self.model._meta, "submit": "Grant override"}
        if not coordinated_group_ids(request.user):
            context["notice"] = "Only a coordinator of the member's group can ask for an override."
            return TemplateResponse(request, TEMPLATE, context)
        today = timezone.localdate()
        initial = {"starts_on": today, "ends_on": today + dt.timedelta(days=6), "member_code": request.GET.get("member", "")[:40]}
        form = OverrideForm(request.POST or None, requester=request.user, initial=initial)
        if not form.fields["approver"].queryset.exists():
            context["notice"] = ("An override needs a second coordinator of the member's group to approve it, "
                                 "and your groups have no other coordinator.")
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            member = data["member_code"]
            valid_from, valid_until = form.period()
            try:
                override = allowance_override_grant(
                    member=member, substance=data["substance"], max_grams=data["max_grams"],
                    valid_from=valid_from, valid_until=valid_until, reason=data["reason"],
                    by=request.user, approved_by=data["approver"], approver_password=data["approver_password"],
                    approver_code=data["approver_code"], request=request,
                )
            except ServiceError as error:
                form.add_error(None, error)
            else:
                admin_recent_action(request, override, f"Granted, approved by {override.approved_by}.", added=True)
                messages.success(request, f"Override granted: {override}, approved by {override.approved_by}.")
                return HttpResponseRedirect(reverse("admin:distributions_allowanceoverride_changelist"))
        # The password is never sent back into the page.
        context["form"] = form
        return TemplateResponse(request, TEMPLATE, context)
