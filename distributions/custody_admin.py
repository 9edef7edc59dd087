"""Admin for physical custody: manifests (send, receive by weight, cancel, print), witnessed
destruction, blind counts and the programme's custody policy. Every write goes through ``distributions.services.custody``; a
refusal comes back to the form as a form error with nothing stored, and every POST that writes
redirects (reloading a page never sends or receives twice).

Who sees which manifest is ``distributions.visibility.manifests_visible_to``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from compassionclub.admin_mixins import NoDeleteAdminMixin, SettingPageAdminMixin
from compassionclub.audit.admin_mixins import admin_recent_action
from compassionclub.errors import ServiceError
from compassionclub.roles import Role
from distributions import services
from distributions.models import (
    Account,
    Balance,
    CustodyPolicy,
    DifferenceReview,
    LedgerEntry,
    Manifest,
    StockCount,
    WitnessedDestruction,
)
from distributions.services.custody import handles_store, receives_into
from distributions.visibility import counts_visible_to, entries_visible_to, manifests_visible_to
from members.scoping import coordinated_group_ids, sees_all_groups
from testing_results.forms import ReceiveForm as BatchReceiveForm
from testing_results.models import Batch

FORM = "admin/custody/form.html"


def stores_for(user, *, sending: bool):
    """The stores a user may pick: to send from, the ones they handle; to send to, every active
    store."""
    qs = Account.objects.filter(Q(kind=Account.Kind.CENTRAL) | Q(kind=Account.Kind.GROUP, group__is_active=True))
    qs = qs.select_related("group").order_by("kind", "group__short_name")
    if sending and not user.has_perm("distributions.transfer_stock"):
        qs = qs.filter(kind=Account.Kind.GROUP, group__in=coordinated_group_ids(user))
    return qs


class StoreChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Account) -> str:
        return str(obj)


def prefilled(request, fields: tuple[str, ...]) -> dict:
    """Initial values a link may carry (a recall's pull-back opens these pages with the batch,
    the stores and the grams filled in); the person still checks them and submits."""
    if request.method != "GET":
        return {}
    return {name: request.GET[name][:40] for name in fields if request.GET.get(name)}


class SendForm(forms.Form):
    batch = forms.ModelChoiceField(
        queryset=Batch.objects.exclude(status__in=[Batch.Status.QUARANTINED, Batch.Status.REJECTED]).order_by("code"),
        help_text=gettext_lazy("A batch goes to a group only while it is released; any batch can come back to the central store."),
    )
    from_store = StoreChoiceField(queryset=Account.objects.none(), label=gettext_lazy("From"))
    to_store = StoreChoiceField(queryset=Account.objects.none(), label=gettext_lazy("To"))
    grams = forms.DecimalField(label=gettext_lazy("Grams sent (weighed)"), max_digits=12, decimal_places=3, min_value=0)
    packages = forms.IntegerField(label=gettext_lazy("Packages"), min_value=1, max_value=10000)
    # Set once when the page is drawn: a double-submitted form is written once.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    PREFILL = ("batch", "from_store", "to_store", "grams")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_store"].queryset = stores_for(user, sending=True)
        self.fields["to_store"].queryset = stores_for(user, sending=False)


class ReceiveForm(forms.Form):
    grams_received = forms.CharField(
        label=gettext_lazy("Grams weighed on arrival"), max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text=gettext_lazy("Weigh the package on your own scale and enter what it shows."),
    )
    reason = forms.ChoiceField(
        label=gettext_lazy("Reason for a difference"), required=False,
        choices=[("", gettext_lazy("No difference")), *LedgerEntry.ManifestDifference.choices],
    )


class PolicyForm(forms.Form):
    tolerance_grams = forms.DecimalField(label=gettext_lazy("Tolerance (grams)"), max_digits=8, decimal_places=3, min_value=0)
    tolerance_percent = forms.DecimalField(label=gettext_lazy("Tolerance (percent)"), max_digits=5, decimal_places=2, min_value=0,
                                           max_value=100)
    count_interval_days = forms.IntegerField(label=gettext_lazy("Count every (days)"), min_value=1, max_value=366)


def _context(model_admin, request, title: str, **extra) -> dict:
    return {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.model._meta, **extra}


def _keyed_add_view(model_admin, request, form_class, write: Callable[[forms.Form], HttpResponse], *, title: str,
                    submit: str) -> HttpResponse:
    """An add page written by one service call: the form carries an idempotency key set when the
    page is drawn (a double-submitted form is written once) and what a link prefilled (see
    ``prefilled``); ``write(form)`` calls the service and answers once it is stored, and a
    refusal comes back to the form as its error."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    initial = {"idempotency_key": uuid.uuid4().hex, **prefilled(request, form_class.PREFILL)}
    form = form_class(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            return write(form)
        except ServiceError as error:
            form.add_error(None, error)
    return TemplateResponse(request, FORM, _context(model_admin, request, title, form=form, submit=submit))


@admin.register(Manifest)
class ManifestAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["code", "batch", "from_store", "to_store", "grams_sent", "packages", "status", "sent_at",
                    "grams_received", "flagged"]
    list_filter = ["status", "flagged"]
    list_select_related = ["batch", "from_store__group", "to_store__group"]
    search_fields = ["=batch__code"]
    show_full_result_count = False

    def get_queryset(self, request):
        return manifests_visible_to(request.user, super().get_queryset(request))

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:manifest_id>/receive/", view(self.receive_view), name="distributions_manifest_receive"),
            path("<int:manifest_id>/cancel/", view(self.cancel_view), name="distributions_manifest_cancel"),
            path("<int:manifest_id>/pdf/", view(self.pdf_view), name="distributions_manifest_pdf"),
            *super().get_urls(),
        ]

    def _manifest(self, request, manifest_id: int) -> Manifest:
        manifest = self.get_queryset(request).select_related("batch__substance", "sent_by", "received_by", "cancelled_by").filter(
            pk=manifest_id).first()
        if manifest is None or not self.has_view_permission(request, manifest):
            raise Http404(_("No such manifest."))
        return manifest

    def _done(self, request, manifest: Manifest, message: str) -> HttpResponse:
        messages.success(request, message)
        return HttpResponseRedirect(reverse("admin:distributions_manifest_change", args=[manifest.pk]))

    def add_view(self, request, form_url="", extra_context=None):
        """Send: the batch, the stores, the grams weighed and the packages."""

        def send(form: SendForm) -> HttpResponse:
            data = form.cleaned_data
            manifest = services.manifest_send(
                batch=data["batch"], from_store=data["from_store"], to_store=data["to_store"], grams=data["grams"],
                packages=data["packages"], by=request.user, idempotency_key=data["idempotency_key"],
            )
            return self._done(request, manifest, ngettext(
                "%(code)s sent: %(grams)s g in %(packages)d package to %(store)s. Print the manifest to travel with "
                "the package.",
                "%(code)s sent: %(grams)s g in %(packages)d packages to %(store)s. Print the manifest to travel with "
                "the packages.", manifest.packages,
            ) % {"code": manifest.code, "grams": manifest.grams_sent, "packages": manifest.packages,
                 "store": manifest.to_store})

        return _keyed_add_view(self, request, SendForm, send, title=_("Send stock on a manifest"), submit=_("Send"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        manifest = None
        if str(object_id).isdigit():
            manifest = self.get_queryset(request).select_related(
                "batch__substance", "sent_by", "received_by", "cancelled_by").filter(pk=object_id).first()
        if manifest is None or not self.has_view_permission(request, manifest):
            # The admin's own answer: 403 without the permission, back to the list for no such row.
            return super().change_view(request, object_id, form_url, extra_context)
        user = request.user
        in_transit = manifest.status == Manifest.Status.IN_TRANSIT
        context = _context(
            self, request, _("Manifest %(code)s") % {"code": manifest.code}, manifest=manifest,
            review=DifferenceReview.objects.filter(manifest=manifest).select_related("reviewed_by").first(),
            may_receive=in_transit and receives_into(user, manifest.to_store),
            may_cancel=in_transit and (manifest.sent_by_id == user.pk or handles_store(user, manifest.from_store)),
            age=timezone.now() - manifest.sent_at if in_transit else None,
        )
        return TemplateResponse(request, "admin/custody/manifest.html", context)

    def receive_view(self, request, manifest_id: int):
        manifest = self._manifest(request, manifest_id)
        if not receives_into(request.user, manifest.to_store):
            raise PermissionDenied
        form = ReceiveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                manifest = services.manifest_receive(
                    manifest=manifest, grams_received=form.cleaned_data["grams_received"], by=request.user,
                    reason=form.cleaned_data["reason"] or None,
                )
            except ServiceError as error:
                form.add_error(None, error)
            else:
                done = _("%(code)s received: %(grams)s g into %(store)s.") % {
                    "code": manifest.code, "grams": manifest.grams_received, "store": manifest.to_store}
                if manifest.flagged:
                    done += " " + _("The difference is beyond the tolerance and is flagged for review.")
                return self._done(request, manifest, done)
        return TemplateResponse(request, FORM, _context(
            self, request, _("Receive %(code)s") % {"code": manifest.code}, form=form, submit=_("Receive"),
            manifest=manifest,
            note=ngettext(
                "%(packages)d package of batch %(batch)s sent from %(from)s to %(to)s.",
                "%(packages)d packages of batch %(batch)s sent from %(from)s to %(to)s.", manifest.packages,
            ) % {"packages": manifest.packages, "batch": manifest.batch.code, "from": manifest.from_store,
                 "to": manifest.to_store},
        ))

    def cancel_view(self, request, manifest_id: int):
        manifest = self._manifest(request, manifest_id)
        if not (manifest.sent_by_id == request.user.pk or handles_store(request.user, manifest.from_store)):
            raise PermissionDenied
        form = forms.Form(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                manifest = services.manifest_cancel(manifest=manifest, by=request.user)
            except ServiceError as error:
                form.add_error(None, error)
            else:
                return self._done(request, manifest, _("%(code)s cancelled: %(grams)s g are back in %(store)s.") % {
                    "code": manifest.code, "grams": manifest.grams_sent, "store": manifest.from_store})
        return TemplateResponse(request, FORM, _context(
            self, request, _("Cancel %(code)s") % {"code": manifest.code}, form=form, submit=_("Cancel the manifest"),
            manifest=manifest,
            note=_("The %(grams)s g go back to %(store)s. Only while nobody has received it.") % {
                "grams": manifest.grams_sent, "store": manifest.from_store},
        ))

    def pdf_view(self, request, manifest_id: int):
        manifest = self._manifest(request, manifest_id)
        from distributions.exports.render import pdf_from_html

        html = render_to_string("custody/manifest_pdf.html", {
            "manifest": manifest, "printed_at": timezone.localtime(), "printed_by": request.user.get_username(),
        })
        response = HttpResponse(pdf_from_html(html), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="manifest_{manifest.code}.pdf"'
        return response


@admin.register(CustodyPolicy)
class CustodyPolicyAdmin(SettingPageAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "updated_by", "updated_at"]

    def setting_form(self, data, setting) -> PolicyForm:
        return PolicyForm(data, initial={
            "tolerance_grams": setting.tolerance_grams, "tolerance_percent": setting.tolerance_percent,
            "count_interval_days": setting.count_interval_days,
        })

    def setting_save(self, request, data) -> str:
        services.custody_policy_set(by=request.user, **data)
        return _("Custody policy saved.")

    def setting_page(self, request, form, may_change) -> HttpResponse:
        return TemplateResponse(request, FORM, _context(
            self, request, _("Custody policy"), form=form, submit=_("Save") if may_change else None,
            note="A difference at receipt or at a count is flagged for review beyond the larger of the two tolerances.",
        ))


def witnesses_for(user, *, receipt: bool = False):
    """People who may be asked to witness: programme staff, and the coordinators of the groups
    ``user`` coordinates (all groups for programme staff); for a receipt from the supplier,
    drug checkers and programme staff. The service checks the right either way."""
    User = get_user_model()
    if receipt:
        mine = Q(groups__name=Role.DRUG_CHECKER)
    elif sees_all_groups(user):
        mine = Q(coordinated_groups__isnull=False)
    else:
        mine = Q(coordinated_groups__in=coordinated_group_ids(user))
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(groups__name=Role.PROGRAMME_ADMIN) | mine)
        .exclude(pk=user.pk).distinct().order_by("username")
    )


class WitnessForm(forms.Form):
    witness = forms.ModelChoiceField(
        label=gettext_lazy("Witness"), queryset=get_user_model().objects.none(),
        help_text=gettext_lazy("A second member of staff who may handle this store, here with you now."),
    )
    witness_password = forms.CharField(
        label=gettext_lazy("Witness's password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    witness_code = forms.CharField(
        label=gettext_lazy("Witness's two-factor code"), required=False, max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text=gettext_lazy("From their authenticator app, if they have two-factor set up."),
    )

    receipt = False

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["witness"].queryset = witnesses_for(user, receipt=self.receipt)

    def credentials(self, request) -> dict:
        """The witness and what they typed, for the service to check (it refuses a wrong one)."""
        data = self.cleaned_data
        return {"witness": data["witness"], "witness_password": data["witness_password"],
                "witness_code": data["witness_code"], "request": request}


class DestroyForm(WitnessForm):
    store = StoreChoiceField(queryset=Account.objects.none(), label=gettext_lazy("Store"))
    batch = forms.ModelChoiceField(queryset=Batch.objects.order_by("code"), label=gettext_lazy("Batch"))
    grams = forms.DecimalField(label=gettext_lazy("Grams destroyed (weighed)"), max_digits=12, decimal_places=3, min_value=0)
    reason = forms.ChoiceField(label=gettext_lazy("Reason"),
                               choices=[("", gettext_lazy("Choose a reason…")), *LedgerEntry.DestructionReason.choices])
    method = forms.ChoiceField(label=gettext_lazy("Method"),
                               choices=[("", gettext_lazy("Choose how…")), *WitnessedDestruction.Method.choices])
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    field_order = ["store", "batch", "grams", "reason", "method", "witness", "witness_password", "witness_code"]
    PREFILL = ("store", "batch", "grams", "reason")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, user=user, **kwargs)
        stores = stores_for(user, sending=True)
        if not user.has_perm("distributions.adjust_stock"):
            stores = stores.filter(kind=Account.Kind.GROUP, group__in=coordinated_group_ids(user))
        else:  # and the reference samples, once their batch is finished (the service checks),
            # which a drug checker may witness
            stores = Account.objects.filter(Q(pk__in=stores.values("pk")) | Q(kind=Account.Kind.REFERENCE)).select_related(
                "group").order_by("kind", "group__short_name")
            checkers = get_user_model().objects.filter(is_active=True, is_staff=True, groups__name=Role.DRUG_CHECKER)
            self.fields["witness"].queryset = get_user_model().objects.filter(
                Q(pk__in=self.fields["witness"].queryset.values("pk")) | Q(pk__in=checkers.values("pk"))
            ).exclude(pk=user.pk).order_by("username")
        self.fields["store"].queryset = stores


@admin.register(WitnessedDestruction)
class WitnessedDestructionAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["entry", "store", "grams", "method", "destroyed_by", "witness", "when"]
    list_filter = ["method"]
    list_select_related = ["entry__batch", "entry__from_account__group", "destroyed_by", "witness"]
    search_fields = ["=entry__batch__code"]
    show_full_result_count = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(entry__in=entries_visible_to(request.user, LedgerEntry.objects.filter(kind=LedgerEntry.Kind.DESTRUCTION)))

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("Store"))
    def store(self, obj):
        return obj.entry.from_account

    @admin.display(description=gettext_lazy("Grams"))
    def grams(self, obj):
        return obj.entry.grams

    @admin.display(description=gettext_lazy("When"))
    def when(self, obj):
        return obj.entry.recorded_at

    def add_view(self, request, form_url="", extra_context=None):
        """Destroy stock in front of a witness, who confirms with their own password (never sent
        back into the page)."""

        def destroy(form: DestroyForm) -> HttpResponse:
            data = form.cleaned_data
            record = services.destruction_witnessed(
                batch=data["batch"], store=data["store"], grams=data["grams"], reason=data["reason"],
                method=data["method"], by=request.user, idempotency_key=data["idempotency_key"],
                **form.credentials(request),
            )
            messages.success(request, _("Destroyed %(grams)s g of %(batch)s from %(store)s, witnessed by %(witness)s.") % {
                "grams": record.entry.grams, "batch": record.entry.batch, "store": record.entry.from_account,
                "witness": record.witness})
            return HttpResponseRedirect(reverse("admin:distributions_witnesseddestruction_changelist"))

        return _keyed_add_view(self, request, DestroyForm, destroy, title=_("Destroy stock before a witness"),
                               submit=_("Destroy"))


FOUND_ROWS = 2


class CountForm(WitnessForm):
    """One field per batch the store holds, named by its code only: the counter never sees the
    ledger's grams. A few rows for stock found of a batch the ledger does not place here."""

    def __init__(self, *args, user, store: Account, **kwargs) -> None:
        super().__init__(*args, user=user, **kwargs)
        held = (
            Balance.objects.filter(account=store, grams__gt=0).select_related("batch__substance").order_by("batch__code")
        )
        self.batches = [b.batch for b in held]
        fields = {}
        for batch in self.batches:
            fields[f"batch_{batch.pk}"] = forms.CharField(
                label=_("%(batch)s (%(substance)s), grams counted") % {"batch": batch.code, "substance": batch.substance.name},
                max_length=20,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
            )
        for i in range(FOUND_ROWS):
            fields[f"found_{i}_batch"] = forms.ModelChoiceField(
                label=_("Other batch found"), required=False, queryset=Batch.objects.exclude(pk__in=[b.pk for b in self.batches])
                .exclude(status=Batch.Status.QUARANTINED).order_by("code"),
            )
            fields[f"found_{i}_grams"] = forms.CharField(label=_("Grams found"), required=False, max_length=20)
        witness = {name: self.fields.pop(name) for name in ("witness", "witness_password", "witness_code")}
        self.fields.update(fields)
        self.fields.update(witness)

    def lines(self) -> list[tuple[Batch, str]]:
        data = self.cleaned_data
        pairs = [(batch, data[f"batch_{batch.pk}"]) for batch in self.batches]
        for i in range(FOUND_ROWS):
            batch, grams = data.get(f"found_{i}_batch"), data.get(f"found_{i}_grams")
            if batch is not None:
                pairs.append((batch, grams or ""))
        return pairs


class StoreForm(forms.Form):
    store = StoreChoiceField(queryset=Account.objects.none(), label=gettext_lazy("Store to count"))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores_for(user, sending=True)


@admin.register(StockCount)
class StockCountAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "store", "signed_at", "counted_by", "signed_by", "flagged"]
    list_filter = ["flagged"]
    list_select_related = ["store__group", "counted_by", "signed_by"]
    show_full_result_count = False

    def get_queryset(self, request):
        return counts_visible_to(request.user, super().get_queryset(request))

    def get_list_filter(self, request):
        # The store filter offers only the stores the user may see.
        return ["flagged", ("store", admin.RelatedOnlyFieldListFilter)]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        count = None
        if str(object_id).isdigit():
            count = self.get_queryset(request).select_related("store__group", "counted_by", "signed_by").filter(
                pk=object_id).first()
        if count is None or not self.has_view_permission(request, count):
            return super().change_view(request, object_id, form_url, extra_context)
        lines = count.lines.select_related("batch__substance", "entry", "review__reviewed_by").order_by("batch__code")
        return TemplateResponse(request, "admin/custody/count.html", _context(
            self, request, _("Count #%(pk)s of %(store)s") % {"pk": count.pk, "store": count.store}, count=count, lines=lines))

    def add_view(self, request, form_url="", extra_context=None):
        """Count a store: pick it, enter the grams of each batch, have a second person sign."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        user = request.user
        store_id = request.GET.get("store", "")
        store = stores_for(user, sending=True).filter(pk=store_id).first() if store_id.isdigit() else None
        if store is None:
            form = StoreForm(request.GET if store_id else None, user=user)
            return TemplateResponse(request, "admin/custody/form.html", _context(
                self, request, _("Count a store"), form=form, submit=_("Start the count"), method="get",
                note=_("Count every package on the shelf and weigh it; the ledger's figures are not shown."),
            ))
        form = CountForm(request.POST or None, user=user, store=store)
        if request.method == "POST" and form.is_valid():
            try:
                count = services.count_record(store=store, lines=form.lines(), by=user, **form.credentials(request))
            except ServiceError as error:
                form.add_error(None, error)
            else:
                differing = sum(1 for line in count.lines.all() if line.entry_id)
                done = ngettext(
                    "Count of %(store)s signed by %(signer)s: %(n)d batch differed and was adjusted.",
                    "Count of %(store)s signed by %(signer)s: %(n)d batches differed and were adjusted.", differing,
                ) % {"store": store, "signer": count.signed_by, "n": differing}
                if count.flagged:
                    done += " " + _("Beyond the tolerance: flagged for review.")
                messages.success(request, done)
                return HttpResponseRedirect(reverse("admin:distributions_stockcount_change", args=[count.pk]))
        return TemplateResponse(request, FORM, _context(
            self, request, _("Count %(store)s") % {"store": store}, form=form, submit=_("Sign the count"),
            note=_("Enter what you weigh for each batch, 0 if it is not on the shelf. "
                   "A second person checks the count and signs with their own password."),
        ))


class ReceiptForm(BatchReceiveForm, WitnessForm):
    supplier_ref = forms.CharField(
        label=gettext_lazy("Supplier code"), max_length=11,
        help_text=gettext_lazy("The programme's code for the supplier (SUP-0014), never a name."),
    )
    supplier_lot = forms.CharField(label=gettext_lazy("Supplier's lot"), max_length=40)
    packages = forms.IntegerField(label=gettext_lazy("Packages"), min_value=1, max_value=10000)
    receipt = True
    field_order = ["substance", "supplier_ref", "supplier_lot", "packages", "received_grams", "received_on",
                   "best_before", "witness", "witness_password", "witness_code"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["received_grams"].label = _("Grams weighed on arrival")
        self.fields["witness"].label = _("Weight confirmed by")
        self.fields["witness"].help_text = _("A second person who watched the weighing: a drug checker or programme staff.")


def receipt_view(model_admin, request):
    """Receive a batch from the supplier: the batch page's add view. A second person confirms
    the weight with their own password before the batch, its intake and its receipt are stored."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = ReceiptForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            receipt = services.batch_receipt_record(
                substance=data["substance"], supplier_ref=data["supplier_ref"], supplier_lot=data["supplier_lot"],
                packages=data["packages"], weighed_grams=data["received_grams"], received_on=data["received_on"],
                best_before=data["best_before"], by=request.user, **form.credentials(request),
            )
        except ServiceError as error:
            form.add_error(None, error)
        else:
            batch = receipt.batch
            admin_recent_action(request, batch, "Received and quarantined.", added=True)
            messages.success(request, ngettext(
                "Batch %(code)s received and quarantined: %(grams)s g in %(packages)d package, weight confirmed by "
                "%(witness)s.",
                "Batch %(code)s received and quarantined: %(grams)s g in %(packages)d packages, weight confirmed by "
                "%(witness)s.", receipt.packages,
            ) % {"code": batch.code, "grams": receipt.weighed_grams, "packages": receipt.packages,
                 "witness": receipt.confirmed_by})
            return HttpResponseRedirect(reverse("admin:testing_results_batch_change", args=[batch.pk]))
    return TemplateResponse(request, "admin/testing_results/batch/receive.html", {
        **model_admin.admin_site.each_context(request), "title": _("Receive a batch"), "opts": Batch._meta, "form": form,
    })
