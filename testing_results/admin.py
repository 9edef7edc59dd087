"""Admin for drug checking and release.

The batch page is read-only: receiving, recording a check and every status change go through
their own pages here, which call ``testing_results.services`` and show a refusal as an error on
the page. Checks and findings are history, never edited. ``extra_panels`` lets a higher layer
(``distributions.batch_admin``) add tables to the batch page without this app importing it.
Compounds, substances, instruments, strip lots, methods and the reference-sample setting have
their own module, ``testing_results.reference_admin``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, Prefetch, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from compassionclub.admin_mixins import NoDeleteAdminMixin, ReadOnlyAdminMixin
from compassionclub.audit.admin_mixins import admin_recent_action
from compassionclub.errors import ServiceError
from members.admin_mixins import ReadOnlyInline
from testing_results import (
    reference_admin,  # noqa: F401  (compounds, substances, instruments, strip lots, methods, the reference sample)
    selectors,
    services,
    views,
)
from testing_results.forms import (
    CheckForm,
    FindingFormSet,
    InvalidateForm,
    ReasonForm,
    ReceiveForm,
    ReportForm,
    findings_from,
    quiet,
)
from testing_results.limits import LimitTable, finding_result_text
from testing_results.models import (
    Batch,
    BatchStatusChange,
    Compound,
    DrugCheck,
    Finding,
    Method,
    StripLot,
)
from testing_results.selectors import batches_visible_to, checks_in_order

ACTION_LABELS = {"release": "Release", "reject": "Reject", "hold": "Put on hold", "recall": "Recall"}
CSS = {"all": ["testing_results/admin.css"]}


def _findings_text(check: DrugCheck, limits: LimitTable | None = None) -> str:
    parts = []
    for finding in check.findings.all():
        text = f"{finding.compound.name}: {finding_result_text(finding, check, limits)}"
        if finding.concentration_pct is not None:
            text += f" {finding.concentration_pct.normalize():f} %"
        parts.append(text)
    return "; ".join(parts)


def _mid(name: str) -> str:
    """A method's name mid-sentence: "FTIR spectrometry", "immunoassay test strip"."""
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def _retest_rows(replaces: DrugCheck | None, panel: list[Compound]) -> list[Compound]:
    """A retest's form starts with the compounds of the check it replaces, then the panel's."""
    if replaces is None:
        return panel
    first = [f.compound for f in replaces.findings.select_related("compound").order_by("compound__name")]
    return first + [c for c in panel if c not in first]


class DrugCheckInline(ReadOnlyInline):
    model = DrugCheck
    fields = ["method", "performed_at", "performed_by", "source", "sample_mg", "findings_summary", "validity", "report"]
    readonly_fields = fields

    def get_queryset(self, request):
        self.limits = selectors.limit_table()  # "not detected" is shown as "below" its limit
        self.may_retest = request.user.has_perm("testing_results.add_drugcheck")
        # The link is offered to whoever the service lets withdraw the check: a drug checker or
        # release officer other than the person who entered it.
        self.may_invalidate = services.may_invalidate_checks(request.user)
        self.user_id = request.user.pk
        return super().get_queryset(request).select_related(
            "performed_by", "invalidated_by", "instrument", "strip_lot", "replaces"
        ).prefetch_related(
            Prefetch("findings", queryset=Finding.objects.select_related("compound")),
            Prefetch("retests", queryset=DrugCheck.objects.order_by("performed_at", "id")),
        )

    @admin.display(description="Instrument or strip lot")
    def source(self, obj: DrugCheck) -> str:
        return str(obj.instrument or obj.strip_lot or obj.lab or "-")

    @admin.display(description="Findings")
    def findings_summary(self, obj: DrugCheck) -> str:
        # An invalidated check stays visible, struck through: the rule no longer reads it.
        text = _findings_text(obj, getattr(self, "limits", None))
        if obj.invalidated_at:
            return format_html('<s class="tr-invalidated">{}</s>', text)
        return text

    @admin.display(description="Valid?")
    def validity(self, obj: DrugCheck) -> str:
        if obj.invalidated_at:
            invalidated = format_html(
                "Invalidated {} by {}: {}", f"{timezone.localtime(obj.invalidated_at):%Y-%m-%d %H:%M}",
                obj.invalidated_by, obj.get_invalidation_reason_display().lower(),
            )
            retests = list(obj.retests.all())
            if retests:
                return format_html("{} · retested {}", invalidated, f"{timezone.localtime(retests[-1].performed_at):%Y-%m-%d %H:%M}")
            if getattr(self, "may_retest", False):
                url = reverse("admin:testing_results_batch_check", args=[obj.batch_id])
                return format_html('{} · <a href="{}?{}">Record a retest</a>', invalidated, url,
                                   urlencode({"method": obj.method_id, "replaces": obj.pk}))
            return invalidated
        retest = f" (retest of the check of {timezone.localtime(obj.replaces.performed_at):%Y-%m-%d %H:%M})" if obj.replaces_id else ""
        if not getattr(self, "may_invalidate", False):
            return format_html("Valid{}", retest)
        if obj.performed_by_id == getattr(self, "user_id", None):
            return format_html("Valid{} · entered by you: another checker or release officer can invalidate it", retest)
        url = reverse("admin:testing_results_batch_invalidate", args=[obj.batch_id, obj.pk])
        return format_html('Valid{} · <a href="{}">Invalidate</a>', retest, url)

    @admin.display(description="Lab report")
    def report(self, obj: DrugCheck) -> str:
        if not obj.lab_report:
            return "-"
        return format_html('<a href="{}">PDF</a>', reverse("admin:testing_results_drugcheck_report", args=[obj.pk]))


class StatusHistoryInline(ReadOnlyInline):
    model = BatchStatusChange
    fields = ["changed_at", "from_status", "to_status", "changed_by", "reason"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")


@admin.register(Batch)
class BatchAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    list_display = ["code", "substance", "status", "received_on", "received_grams", "best_before"]
    list_filter = ["status", "substance"]
    list_select_related = ["substance"]
    search_fields = ["code"]
    fields = ["code", "substance", "status", "status_changed_at", "received_on", "received_grams", "best_before",
              "label_text", "created_by", "created_at"]
    readonly_fields = fields
    inlines = [DrugCheckInline, StatusHistoryInline]
    show_full_result_count = False
    change_form_template = "admin/testing_results/batch/change_form.html"

    def get_queryset(self, request):
        return batches_visible_to(request.user, super().get_queryset(request))

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, DrugCheckInline) and obj is not None and obj.pk is not None:
            # Each retest directly under the check it replaces, as in the PDF: the order is
            # decided in Python (a chain of retests) and handed to the query by position.
            order = checks_in_order(DrugCheck.objects.filter(batch=obj).only("id", "performed_at", "replaces_id"))
            if order:
                position = Case(*(When(pk=c.pk, then=Value(n)) for n, c in enumerate(order)), default=Value(len(order)))
                kwargs["queryset"] = kwargs["queryset"].order_by(position, "id")
        return kwargs

    class Media:
        css = CSS

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the page is read-only; changes go through the pages below

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/check/", wrap(self.check_view), name="testing_results_batch_check"),
            path("<int:pk>/checks/<int:check_pk>/invalidate/", wrap(self.invalidate_view),
                 name="testing_results_batch_invalidate"),
            # One explicit path per action, so these never shadow the admin's own "<pk>/change/".
            *(path(f"<int:pk>/{action}/", wrap(self.transition_view), {"action": action},
                   name=f"testing_results_batch_{action}") for action in services.TRANSITIONS),
            *super().get_urls(),
        ]

    # What a higher layer may add to the batch page: [{"title", "columns", "rows", "empty"}].
    def extra_panels(self, request: HttpRequest, batch: Batch) -> list[dict]:
        return []

    def _context(self, request, batch: Batch | None, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts, "title": title, "original": batch, "media": self.media, **extra,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if batch is not None:
            user = request.user
            # The two-person rule concerns whoever may release: a drug checker is told who will.
            may_release = user.has_perm("testing_results.release_batch")
            assessment = (services.assess_release(batch, by=user if may_release else None)
                          if batch.status in services.TRANSITIONS["release"][0] else None)
            actions = []
            if may_release:
                # Release is offered only when the rule, asked for this user, would release: a
                # batch with a harmful compound found, a missing check, an expired lot or checks
                # this user entered get no Release button, and the assessment says why. Reject
                # (or, on hold, Recall) stays.
                actions = [
                    (ACTION_LABELS[a], reverse(f"admin:testing_results_batch_{a}", args=[batch.pk]))
                    for a, (starts, _to) in services.TRANSITIONS.items()
                    if batch.status in starts and not (a == "release" and assessment and not assessment.releasable)
                ]
            extra.update(
                assessment=assessment,
                release_withheld=bool(may_release and assessment and not assessment.releasable),
                instead=[label for label, _url in actions if label in (ACTION_LABELS["reject"], ACTION_LABELS["recall"])],
                transition_links=actions,
                can_add_check=user.has_perm("testing_results.add_drugcheck") and batch.status in services.CHECKABLE,
                may_release=may_release,
                check_url=reverse("admin:testing_results_batch_check", args=[batch.pk]),
                extra_panels=self.extra_panels(request, batch),
            )
        return super().change_view(request, object_id, form_url, extra)

    def _change_url(self, batch: Batch) -> str:
        return reverse("admin:testing_results_batch_change", args=[batch.pk])

    def add_view(self, request, form_url="", extra_context=None):
        """Receiving a batch: the service codes it, quarantines it and writes the intake entry."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ReceiveForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = services.batch_receive(
                    substance=form.cleaned_data["substance"], grams=form.cleaned_data["received_grams"],
                    received_on=form.cleaned_data["received_on"], best_before=form.cleaned_data["best_before"],
                    by=request.user,
                )
            except ServiceError as exc:
                form.add_error(None, exc)
            else:
                admin_recent_action(request, batch, "Received and quarantined.", added=True)
                self.message_user(request, f"Batch {batch.code} received and quarantined.", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(batch))
        return TemplateResponse(
            request, "admin/testing_results/batch/receive.html", self._context(request, None, "Receive a batch", form=form)
        )

    def check_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Record a check. First the method (and for a strip, its lot) is chosen by a link, then
        the form starts with that method's panel: one row per compound it reports, results
        valid for the method only. "Add a row" re-shows the form with one more empty row,
        server-side, so the page needs no script."""
        batch = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("testing_results.add_drugcheck"):
            raise PermissionDenied
        method = Method.objects.filter(code=request.GET.get("method", "")).first()
        replaces = self._retest_of(request, batch, method)
        lot = None
        if method is not None and method.kind == Method.Kind.STRIP and request.GET.get("strip_lot", "").isdigit():
            lot = StripLot.objects.filter(pk=request.GET["strip_lot"], unrecorded_before__isnull=True).first()
        if method is None or (method.kind == Method.Kind.STRIP and lot is None):
            return TemplateResponse(
                request, "admin/testing_results/batch/choose_method.html",
                self._context(request, batch, f"Record a check for {batch.code}",
                              choices=self._method_choices(batch, replaces), change_url=self._change_url(batch)),
            )
        panel = _retest_rows(replaces, list(method.panel.all()))
        compounds = Compound.objects.all()
        if lot is not None:
            panel = [c for c in panel if c.drug_class == lot.drug_class]
            compounds = compounds.filter(drug_class=lot.drug_class)
        formset_kwargs = {"prefix": "findings", "method": method, "compounds": compounds}
        form = CheckForm(request.POST or None, request.FILES or None, method=method, strip_lot=lot)
        if request.method == "POST" and "add_row" in request.POST:
            data = request.POST.copy()
            data["findings-TOTAL_FORMS"] = str(int(data.get("findings-TOTAL_FORMS") or 0) + 1)
            formset = FindingFormSet(data, **formset_kwargs)
            quiet(form)
            quiet(formset)
        else:
            formset = FindingFormSet(
                request.POST or None, initial=[{"compound": c} for c in panel], **formset_kwargs
            )
        if request.method == "POST" and "add_row" not in request.POST and form.is_valid() and formset.is_valid():
            data = form.cleaned_data
            try:
                drug_check = services.check_record(
                    batch=batch, method=method.code, findings=findings_from(formset), by=request.user,
                    sample_mg=data["sample_mg"], performed_at=data["performed_at"], lab=data["lab"],
                    lab_report=data.get("lab_report"), instrument=data.get("instrument"), strip_lot=data.get("strip_lot"),
                    replaces=replaces,
                )
            except ServiceError as exc:
                self._refused(request, form, exc)
            else:
                return self._check_done(
                    request, batch, recent=f"{drug_check.get_method_display()} check recorded.",
                    done=f"Check recorded for {batch.code}.",
                    held=f"{batch.code} was put on hold: the check found a harmful compound.",
                )
        what = f"{lot.get_drug_class_display().lower()} strip" if lot is not None else method.name
        title = f"Record {'an' if what[:1] in 'AEFHILMNORSXaeiou' else 'a'} {what} check for {batch.code}"
        if replaces is not None:
            title = (f"Record a retest of the {_mid(replaces.get_method_display())} check of "
                     f"{timezone.localtime(replaces.performed_at):%Y-%m-%d %H:%M} for {batch.code}")
        return TemplateResponse(
            request, "admin/testing_results/batch/add_check.html",
            self._context(request, batch, title, form=form, formset=formset, replaces=replaces,
                          method=method, lot=lot, change_url=self._change_url(batch),
                          choose_url=reverse("admin:testing_results_batch_check", args=[batch.pk])),
        )

    def _refused(self, request: HttpRequest, form, error: ServiceError) -> None:
        """A service's refusal is said twice: on the form, beside what was typed, and at the top of
        the page, where the batch page's messages appear."""
        form.add_error(None, error)
        self.message_user(request, str(error), messages.ERROR)

    def _check_done(self, request: HttpRequest, batch: Batch, *, recent: str, done: str, held: str) -> HttpResponse:
        """After a check is recorded or invalidated, which may have put the batch on hold: say so
        (``held``) beside ``done``, and go back to the batch page."""
        batch.refresh_from_db(fields=["status"])
        admin_recent_action(request, batch, recent)
        self.message_user(request, done, messages.SUCCESS)
        if batch.status == Batch.Status.ON_HOLD:
            self.message_user(request, held, messages.WARNING)
        return HttpResponseRedirect(self._change_url(batch))

    @staticmethod
    def _retest_of(request: HttpRequest, batch: Batch, method: Method | None) -> DrugCheck | None:
        """The check a retest replaces (``?replaces=``): one of this batch's, by the method chosen."""
        pk = request.GET.get("replaces", "")
        if not pk.isdigit():
            return None
        found = DrugCheck.objects.filter(batch=batch, pk=pk).select_related("batch", "invalidated_by").first()
        return found if found is not None and (method is None or found.method_id == method.code) else None

    def _method_choices(self, batch: Batch, replaces: DrugCheck | None = None) -> list[tuple[str, str, str]]:
        """(label, detail, url) per method; a strip method once per lot in date, since a strip
        answers for its lot's class only. For a retest, only the replaced check's method (and for
        a strip, lots of its class)."""
        base = reverse("admin:testing_results_batch_check", args=[batch.pk])
        retest = {"replaces": replaces.pk} if replaces is not None else {}
        if replaces is not None and replaces.strip_lot_id:
            lots_of = replaces.findings.values_list("compound__drug_class", flat=True)
        else:
            lots_of = None
        today = timezone.localdate()
        lots = StripLot.objects.filter(unrecorded_before__isnull=True, expires_on__gte=today).order_by("drug_class", "expires_on")
        if lots_of is not None:
            lots = lots.filter(drug_class__in=list(lots_of))
        methods = Method.objects.annotate(panel_size=Count("panel"))
        if replaces is not None:
            methods = methods.filter(code=replaces.method_id)
        choices = []
        for method in methods:
            if method.kind == Method.Kind.STRIP:
                for lot in lots:
                    choices.append((
                        f"{method.name}: {lot.get_drug_class_display().lower()}",
                        f"{lot.maker} lot {lot.lot_number}, cut-off {lot.cutoff_ng_ml.normalize():f} ng/mL, expires {lot.expires_on:%Y-%m-%d}",
                        f"{base}?{urlencode({'method': method.code, 'strip_lot': lot.pk, **retest})}",
                    ))
            else:
                choices.append((method.name, f"{method.panel_size} compounds on its panel",
                                f"{base}?{urlencode({'method': method.code, **retest})}"))
        return choices

    def invalidate_view(self, request: HttpRequest, pk: int, check_pk: int) -> HttpResponse:
        """Withdraw a check entered by someone else; the service holds a released batch that no
        longer passes without it."""
        batch = get_object_or_404(self.get_queryset(request), pk=pk)
        drug_check = get_object_or_404(DrugCheck.objects.filter(batch=batch), pk=check_pk)
        user = request.user
        if not services.may_invalidate_checks(user):
            raise PermissionDenied
        form = InvalidateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.check_invalidate(drug_check=drug_check, reason=form.cleaned_data["reason"], by=user)
            except ServiceError as exc:
                self._refused(request, form, exc)
            else:
                return self._check_done(
                    request, batch, recent=f"{drug_check.get_method_display()} check invalidated.",
                    done=f"The {_mid(drug_check.get_method_display())} check was invalidated.",
                    held=f"{batch.code} was put on hold: without that check it no longer passes the release rule.",
                )
        label = f"Invalidate the {_mid(drug_check.get_method_display())} check of {timezone.localtime(drug_check.performed_at):%Y-%m-%d %H:%M}"
        return TemplateResponse(
            request, "admin/testing_results/batch/transition.html",
            self._context(request, batch, label, form=form, action_label=label, change_url=self._change_url(batch)),
        )

    def transition_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        if action not in services.TRANSITIONS:
            raise PermissionDenied
        batch = get_object_or_404(self.get_queryset(request).select_related("substance"), pk=pk)
        if not request.user.has_perm("testing_results.release_batch"):
            raise PermissionDenied
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            service = getattr(services, f"batch_{action}")
            try:
                # The service is its own (durable) transaction: it commits or stores nothing.
                service(batch=batch, by=request.user, reason=form.cleaned_data["reason"])
            except ServiceError as exc:
                self._refused(request, form, exc)
            else:
                admin_recent_action(request, batch, f"{services.PAST_TENSE[action].capitalize()}: {form.cleaned_data['reason']}")
                self.message_user(request, f"Batch {batch.code}: {services.PAST_TENSE[action]}.", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(batch))
        assessment = services.assess_release(batch, by=request.user) if action == "release" else None
        # A release the rule refuses is not asked for: the page says why instead of taking a
        # reason first and refusing after.
        withheld = bool(assessment and not assessment.releasable)
        instead = [ACTION_LABELS[a] for a in ("reject", "recall") if batch.status in services.TRANSITIONS[a][0]]
        return TemplateResponse(
            request, "admin/testing_results/batch/transition.html",
            self._context(request, batch, f"{ACTION_LABELS[action]} {batch.code}", form=form, action=action,
                          action_label=ACTION_LABELS[action], assessment=assessment, change_url=self._change_url(batch),
                          may_release=True, release_withheld=withheld, instead=instead if withheld else []),
        )


class FindingInline(ReadOnlyInline):
    model = Finding
    fields = ["compound", "result", "concentration_pct"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("compound")


@admin.register(DrugCheck)
class DrugCheckAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["batch", "method", "performed_at", "performed_by", "lab", "sample_mg", "report"]
    list_filter = ["method"]
    list_select_related = ["batch", "performed_by"]
    search_fields = ["batch__code", "lab"]
    fields = ["batch", "method", "performed_at", "performed_by", "lab", "sample_mg", "recorded_at", "report"]
    readonly_fields = fields
    inlines = [FindingInline]

    def get_urls(self):
        return [
            path("<int:pk>/report/", self.admin_site.admin_view(views.lab_report), name="testing_results_drugcheck_report"),
            path(
                "<int:pk>/attach-report/", self.admin_site.admin_view(self.attach_report_view),
                name="testing_results_drugcheck_attach_report",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Lab report")
    def report(self, obj: DrugCheck) -> str:
        if not obj.lab_report:
            return format_html(
                '<a href="{}">Attach</a>', reverse("admin:testing_results_drugcheck_attach_report", args=[obj.pk])
            )
        return format_html('<a href="{}">PDF</a>', reverse("admin:testing_results_drugcheck_report", args=[obj.pk]))

    def attach_report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Attach the lab's PDF to a check recorded without one; the service validates and stores it."""
        drug_check = get_object_or_404(self.get_queryset(request).select_related("batch"), pk=pk)
        if not request.user.has_perm("testing_results.add_drugcheck"):
            raise PermissionDenied
        change_url = reverse("admin:testing_results_drugcheck_change", args=[drug_check.pk])
        form = ReportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.check_attach_report(drug_check=drug_check, upload=form.cleaned_data["lab_report"], by=request.user)
            except ServiceError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(request, f"Lab report attached to {drug_check}.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": f"Attach a lab report to {drug_check}",
            "drug_check": drug_check, "form": form, "change_url": change_url,
        }
        return TemplateResponse(request, "admin/testing_results/drugcheck/attach_report.html", context)


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["drug_check", "compound", "result", "concentration_pct"]
    list_filter = ["result", "compound__category"]
    list_select_related = ["drug_check__batch", "compound"]
    search_fields = ["drug_check__batch__code", "compound__name"]


@admin.register(BatchStatusChange)
class BatchStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["batch", "from_status", "to_status", "changed_by", "changed_at"]
    list_filter = ["to_status"]
    list_select_related = ["batch", "changed_by"]
    search_fields = ["batch__code"]
