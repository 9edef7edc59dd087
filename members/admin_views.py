"""Member pages inside the admin: enrolment, PIN reset, status change, renewal, printable card.

They are ``MemberAdmin``'s own pages (``MemberPagesMixin.get_urls``), under the members' URLs.
Every page is for coordinators of the member's group (a member of another group is a 404, so
a typed URL reveals nothing); every write goes through ``members.services``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import segno
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from compassionclub.audit.admin_mixins import admin_recent_action
from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from members.forms import EnrolForm, PinFields, ReissueForm, RenewForm, StatusForm
from members.models import Member, MemberGroup
from members.scoping import coordinated_group_ids, is_coordinator_of, members_visible_to
from members.services import member_card_reissue, member_enrol, member_renew, member_reset_pin, member_set_status

RENEWAL_HORIZON_DAYS = 30


def _change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def _safe_next(request: HttpRequest) -> str | None:
    """``?next=``, when it is a page of this site: the desk links its fixes (renew, change
    status) so, and the coordinator is sent back to the member still on screen there."""
    after = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(after, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return after if after and safe else None


def _card_url(member: Member) -> str:
    return reverse("admin:members_member_card", args=[member.pk])


def _apply(form, call) -> object | None:
    """Run a service; its refusal becomes a form error, nothing stored."""
    try:
        return call()
    except ServiceError as exc:
        form.add_error("pin" if exc.code.startswith("pin_") and "pin" in form.fields else None, exc.message_text)
        return None


@dataclass(frozen=True)
class MemberFormPage:
    """A page that changes one member through one service: a form, the service call, then a
    line in the recent actions, a message and a redirect. The title and the message are given
    the member's code as the page opened (a new card changes it)."""

    form_class: type[forms.Form]
    title: Callable[[str], str]
    submit: str
    act: Callable[[Member, dict, object], object]  # the service call; its result is not None
    logged: Callable[[Member], str]
    done: Callable[[Member, str], str]
    then: Callable[[Member], str] = _change_url
    initial: Callable[[Member], dict] = field(default=lambda member: {})
    intro: str | None = None


MEMBER_FORM_PAGES = {
    "reset_pin": MemberFormPage(
        form_class=PinFields, title=lambda code: f"Reset the PIN of {code}", submit="Set the new PIN",
        act=lambda m, d, by: member_reset_pin(member=m, pin=d["pin"], by=by) or m,
        logged=lambda m: "PIN reset.",
        done=lambda m, old: f"The PIN of {m.display_code} was changed.",
    ),
    "status": MemberFormPage(
        form_class=StatusForm, title=lambda code: f"Change the status of {code}", submit="Change status",
        initial=lambda m: {"status": m.status},
        act=lambda m, d, by: member_set_status(member=m, status=d["status"], reason=d["reason"], by=by),
        logged=lambda m: f"Status set to {m.get_status_display().lower()}.",
        done=lambda m, old: f"{m.display_code} is now {m.get_status_display().lower()}.",
    ),
    "renew": MemberFormPage(
        form_class=RenewForm, title=lambda code: f"Renew {code}", submit="Renew",
        act=lambda m, d, by: member_renew(member=m, by=by, consent_version=d["consent_version"],
                                         age_attested=d["age_attested"]),
        logged=lambda m: f"Renewed until {m.renewal_due:%Y-%m-%d}.",
        done=lambda m, old: f"{m.display_code} renewed until {m.renewal_due:%Y-%m-%d}.",
    ),
    # A new card (code and PIN) for a lost, stolen or damaged one; the record stays the same.
    "reissue": MemberFormPage(
        form_class=ReissueForm, title=lambda code: f"A new card for {code}", submit="Issue the new card",
        intro="For a lost, stolen or damaged card. The member keeps their history, allowance and recall alerts; "
              "the old code is refused at the desk and on the status page from now on.",
        act=lambda m, d, by: member_card_reissue(member=m, pin=d["pin"], reason=d["reason"], by=by),
        logged=lambda m: "New card issued.",
        done=lambda m, old: f"New card: {m.display_code}. The old code {old} no longer works anywhere. "
                            "Print the card now.",
        then=_card_url,
    ),
}


class MemberPagesMixin:
    """``MemberAdmin``'s pages beyond the list and the read-only record."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("enrol/", view(self.enrol_view), name="members_member_enrol"),
            path("renewals/", view(self.renewals_view), name="members_member_renewals"),
            path("<int:member_id>/enrolled/", view(self.enrolled_view), name="members_member_enrolled"),
            path("<int:member_id>/card/", view(self.card_view), name="members_member_card"),
            path("<int:member_id>/reset-pin/", view(self.member_form_view), {"page": "reset_pin"},
                 name="members_member_reset_pin"),
            path("<int:member_id>/status/", view(self.member_form_view), {"page": "status"}, name="members_member_status"),
            path("<int:member_id>/renew/", view(self.member_form_view), {"page": "renew"}, name="members_member_renew"),
            path("<int:member_id>/new-card/", view(self.member_form_view), {"page": "reissue"},
                 name="members_member_reissue"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        # Enrolment is its own page, so the code is generated and the PIN hashed by the service.
        return self.enrol_view(request)

    def _member_for(self, request: HttpRequest, member_id: int) -> Member:
        member = Member.objects.select_related("group").filter(pk=member_id).first()
        if member is None or not is_coordinator_of(request.user, member.group_id):
            raise Http404("No such member in your groups.")
        return member

    def _page(self, request, template: str, title: str, **extra) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "title": title, "opts": Member._meta, **extra}
        return TemplateResponse(request, f"members/admin/{template}", context)

    def enrol_view(self, request: HttpRequest) -> HttpResponse:
        groups = MemberGroup.objects.filter(pk__in=coordinated_group_ids(request.user), is_active=True)
        if not groups.exists():
            return self._page(
                request, "form.html", "Enrol a member", form=None,
                notice="Only a coordinator of an active group can enrol members, into their own group.",
            )
        form = EnrolForm(request.POST or None, groups=groups)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            member = _apply(form, lambda: member_enrol(
                group=d["group"], pin=d["pin"], consent_version=d["consent_version"], by=request.user,
                age_attested=d["age_attested"],
            ))
            if member is not None:
                admin_recent_action(request, member, "Enrolled.", added=True)
                # Post/redirect/get: reloading the next page shows it again, never enrols twice.
                return redirect(reverse("admin:members_member_enrolled", args=[member.pk]))
        return self._page(request, "form.html", "Enrol a member", form=form, submit="Enrol")

    def enrolled_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        """The page after an enrolment: the new code and the card to print, for the member's coordinators."""
        member = self._member_for(request, member_id)
        return self._page(request, "enrolled.html", "Member enrolled", member=member, card_url=_card_url(member))

    def member_form_view(self, request: HttpRequest, member_id: int, page: str) -> HttpResponse:
        spec = MEMBER_FORM_PAGES[page]
        member = self._member_for(request, member_id)
        old = member.display_code
        form = spec.form_class(request.POST or None, initial=spec.initial(member))
        changed = request.method == "POST" and form.is_valid() and _apply(
            form, lambda: spec.act(member, form.cleaned_data, request.user))
        if changed:
            admin_recent_action(request, member, spec.logged(member))
            messages.success(request, spec.done(member, old))
            return redirect(_safe_next(request) or spec.then(member))
        return self._page(request, "form.html", spec.title(old), form=form, member=member, submit=spec.submit,
                          intro=spec.intro)

    def renewals_view(self, request: HttpRequest) -> HttpResponse:
        """The renewals worklist: members whose membership runs out in the next 30 days or has run
        out, soonest first, each renewed from the list through ``member_renew`` (one POST per
        member, then back to the list)."""
        if not request.user.has_perm("members.change_member"):
            raise PermissionDenied
        if request.method == "POST":
            self._renew_from_list(request)
            return redirect(reverse("admin:members_member_renewals"))
        today = timezone.localdate()
        due = (
            members_visible_to(request.user, Member.objects.select_related("group"))
            .exclude(status=Member.Status.WITHDRAWN)
            .filter(renewal_due__lte=today + dt.timedelta(days=RENEWAL_HORIZON_DAYS))
            .order_by("renewal_due", "code")
        )
        rows = [
            {"member": m, "days": (m.renewal_due - today).days, "overdue": (today - m.renewal_due).days,
             "can_renew": is_coordinator_of(request.user, m.group_id)}
            for m in due
        ]
        return self._page(request, "renewals.html", "Renewals due", rows=rows, horizon=RENEWAL_HORIZON_DAYS, today=today)

    @staticmethod
    def _renew_from_list(request: HttpRequest) -> None:
        form = RenewForm(request.POST)
        member = members_visible_to(request.user, Member.objects.select_related("group")).filter(
            pk=request.POST.get("member") if str(request.POST.get("member", "")).isdigit() else None
        ).first()
        if member is None:
            messages.error(request, "That member is not in your groups.")
            return
        if not form.is_valid():
            messages.error(request, f"{member.display_code} was not renewed: tick that the member says they are 19 or over.")
            return
        try:
            member_renew(member=member, by=request.user, consent_version=form.cleaned_data["consent_version"],
                         age_attested=form.cleaned_data["age_attested"])
        except ServiceError as exc:
            messages.error(request, f"{member.display_code} was not renewed: {exc.message_text}")
        else:
            admin_recent_action(request, member, f"Renewed until {member.renewal_due:%Y-%m-%d}.")
            messages.success(request, f"{member.display_code} renewed until {member.renewal_due:%Y-%m-%d}.")

    def card_view(self, request: HttpRequest, member_id: int) -> HttpResponse:
        member = self._member_for(request, member_id)
        qr = segno.make(member.display_code, error="m")
        svg = qr.svg_inline(scale=8, title=f"QR code of {member.display_code}")
        status_url = request.build_absolute_uri(reverse("status_page"))
        audit_log(action="member.card_viewed", actor=request.user, target=member)
        return self._page(request, "card.html", f"Card for {member.display_code}", member=member, qr_svg=svg,
                          status_url=status_url)
