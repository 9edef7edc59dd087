"""Member pages inside the admin: enrolment, PIN reset, status change, renewal, printable card.

Every page is for coordinators of the member's group (a member of another group is a 404, so
a typed URL reveals nothing); every write goes through ``members.services``.
"""

from __future__ import annotations

import datetime as dt

import segno
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from compassionclub.audit.admin_mixins import admin_recent_action
from compassionclub.audit.services import audit_log
from compassionclub.errors import ServiceError
from members.forms import EnrolForm, PinFields, ReissueForm, RenewForm, StatusForm
from members.models import Member, MemberGroup
from members.scoping import coordinated_group_ids, is_coordinator_of, members_visible_to
from members.services import member_card_reissue, member_enrol, member_renew, member_reset_pin, member_set_status


def _member_for(request: HttpRequest, member_id: int) -> Member:
    member = Member.objects.select_related("group").filter(pk=member_id).first()
    if member is None or not is_coordinator_of(request.user, member.group_id):
        raise Http404("No such member in your groups.")
    return member


def _context(site, request, title: str, **extra) -> dict:
    return {**site.each_context(request), "title": title, "opts": Member._meta, **extra}


def _change_url(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


def _apply(form, call) -> object | None:
    """Run a service; its refusal becomes a form error, nothing stored."""
    try:
        return call()
    except ServiceError as exc:
        form.add_error("pin" if exc.code.startswith("pin_") and "pin" in form.fields else None, exc.message_text)
        return None


def enrol_view(site):
    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        groups = MemberGroup.objects.filter(pk__in=coordinated_group_ids(request.user), is_active=True)
        if not groups.exists():
            return TemplateResponse(request, "members/admin/form.html", _context(
                site, request, "Enrol a member", form=None,
                notice="Only a coordinator of an active group can enrol members, into their own group.",
            ))
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
        return TemplateResponse(request, "members/admin/form.html", _context(
            site, request, "Enrol a member", form=form, submit="Enrol"
        ))
    return view


def enrolled_view(site):
    """The page after an enrolment: the new code and the card to print, for the member's coordinators."""

    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        return TemplateResponse(request, "members/admin/enrolled.html", _context(
            site, request, "Member enrolled", member=member,
            card_url=reverse("admin:members_member_card", args=[member.pk]),
        ))
    return view


def reset_pin_view(site):
    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        form = PinFields(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = _apply(form, lambda: member_reset_pin(member=member, pin=form.cleaned_data["pin"], by=request.user) or True)
            if done:
                admin_recent_action(request, member, "PIN reset.")
                messages.success(request, f"The PIN of {member.display_code} was changed.")
                return redirect(_change_url(member))
        return TemplateResponse(request, "members/admin/form.html", _context(
            site, request, f"Reset the PIN of {member.display_code}", form=form, member=member, submit="Set the new PIN"
        ))
    return view


def status_view(site):
    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        form = StatusForm(request.POST or None, initial={"status": member.status})
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            done = _apply(form, lambda: member_set_status(member=member, status=d["status"], reason=d["reason"], by=request.user))
            if done:
                admin_recent_action(request, member, f"Status set to {member.get_status_display().lower()}.")
                messages.success(request, f"{member.display_code} is now {member.get_status_display().lower()}.")
                return redirect(_change_url(member))
        return TemplateResponse(request, "members/admin/form.html", _context(
            site, request, f"Change the status of {member.display_code}", form=form, member=member, submit="Change status"
        ))
    return view


def renew_view(site):
    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        form = RenewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            done = _apply(form, lambda: member_renew(
                member=member, by=request.user, consent_version=d["consent_version"], age_attested=d["age_attested"]
            ))
            if done:
                admin_recent_action(request, member, f"Renewed until {member.renewal_due:%Y-%m-%d}.")
                messages.success(request, f"{member.display_code} renewed until {member.renewal_due:%Y-%m-%d}.")
                return redirect(_change_url(member))
        return TemplateResponse(request, "members/admin/form.html", _context(
            site, request, f"Renew {member.display_code}", form=form, member=member, submit="Renew"
        ))
    return view


def reissue_view(site):
    """A new card (code and PIN) for a lost, stolen or damaged one; the record stays the same."""

    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        old = member.display_code
        form = ReissueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            done = _apply(form, lambda: member_card_reissue(member=member, pin=d["pin"], reason=d["reason"], by=request.user))
            if done:
                admin_recent_action(request, member, "New card issued.")
                messages.success(request, f"New card: {member.display_code}. The old code {old} no longer works anywhere. "
                                          "Print the card now.")
                return redirect(reverse("admin:members_member_card", args=[member.pk]))
        return TemplateResponse(request, "members/admin/form.html", _context(
            site, request, f"A new card for {old}", form=form, member=member, submit="Issue the new card",
            intro="For a lost, stolen or damaged card. The member keeps their history, allowance and recall alerts; "
                   "the old code is refused at the desk and on the status page from now on.",
        ))
    return view


RENEWAL_HORIZON_DAYS = 30


def renewals_view(site):
    """The renewals worklist: members whose membership runs out in the next 30 days or has run
    out, soonest first, each renewed from the list through ``member_renew`` (one POST per
    member, then back to the list)."""

    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("members.change_member"):
            raise PermissionDenied
        today = timezone.localdate()
        if request.method == "POST":
            form = RenewForm(request.POST)
            member = members_visible_to(request.user, Member.objects.select_related("group")).filter(
                pk=request.POST.get("member") if str(request.POST.get("member", "")).isdigit() else None
            ).first()
            if member is None:
                messages.error(request, "That member is not in your groups.")
            elif not form.is_valid():
                messages.error(request, f"{member.display_code} was not renewed: tick that the member says they are 19 or over.")
            else:
                try:
                    member_renew(member=member, by=request.user, consent_version=form.cleaned_data["consent_version"],
                                 age_attested=form.cleaned_data["age_attested"])
                except ServiceError as exc:
                    messages.error(request, f"{member.display_code} was not renewed: {exc.message_text}")
                else:
                    admin_recent_action(request, member, f"Renewed until {member.renewal_due:%Y-%m-%d}.")
                    messages.success(request, f"{member.display_code} renewed until {member.renewal_due:%Y-%m-%d}.")
            return redirect(reverse("admin:members_member_renewals"))
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
        return TemplateResponse(request, "members/admin/renewals.html", _context(
            site, request, "Renewals due", rows=rows, horizon=RENEWAL_HORIZON_DAYS, today=today,
        ))
    return view


def card_view(site):
    @never_cache
    def view(request: HttpRequest, member_id: int) -> HttpResponse:
        member = _member_for(request, member_id)
        qr = segno.make(member.display_code, error="m")
        svg = qr.svg_inline(scale=8, title=f"QR code of {member.display_code}")
        status_url = request.build_absolute_uri(reverse("status_page"))
        audit_log(action="member.card_viewed", actor=request.user, target=member)
        return TemplateResponse(request, "members/admin/card.html", _context(
            site, request, f"Card for {member.display_code}", member=member, qr_svg=svg, status_url=status_url,
        ))
    return view


def admin_urls(site) -> list:
    return [
        path("members/member/enrol/", site.admin_view(enrol_view(site)), name="members_member_enrol"),
        path("members/member/renewals/", site.admin_view(renewals_view(site)), name="members_member_renewals"),
        path("members/member/<int:member_id>/enrolled/", site.admin_view(enrolled_view(site)), name="members_member_enrolled"),
        path("members/member/<int:member_id>/card/", site.admin_view(card_view(site)), name="members_member_card"),
        path("members/member/<int:member_id>/reset-pin/", site.admin_view(reset_pin_view(site)), name="members_member_reset_pin"),
        path("members/member/<int:member_id>/status/", site.admin_view(status_view(site)), name="members_member_status"),
        path("members/member/<int:member_id>/renew/", site.admin_view(renew_view(site)), name="members_member_renew"),
        path("members/member/<int:member_id>/new-card/", site.admin_view(reissue_view(site)), name="members_member_reissue"),
    ]
