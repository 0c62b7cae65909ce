"""Cabinet pages of the integrations: API keys, webhooks, Excel intake, pull connectors, customers' SMS."""

import json
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from ketlogistic.core import access, i18n
from ketlogistic.core.actors import Actor
from ketlogistic.core.compression import never_compress
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.excel import XLSX_CONTENT_TYPE
from ketlogistic.core.forms import errors_to_form
from ketlogistic.core.models import Partner
from ketlogistic.core.pagination import InvalidCursor, keyset_paginate
from ketlogistic.core.progress import Progress

from . import api_keys, connectors, crm_sync, excel, selectors, services, sms, sms_reports, webhooks
from .forms import (
    ApiKeyForm,
    ConnectorForm,
    CrmConnectorForm,
    DeliveryLogFilter,
    ExcelUploadForm,
    MappingForm,
    SmsCostsFilter,
    SmsSettingsForm,
    WebhookEditForm,
    WebhookEndpointForm,
)
from .models import (
    ApiKey,
    ConnectorRun,
    CrmOrderLink,
    ExcelImport,
    ExcelMapping,
    PullConnector,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from .sms_texts import PLACEHOLDERS

DELIVERY_LOG_PAGE = 50
ORDER_CARD_EVENTS = 20


@permission_required("integrations.view")
def overview(request):
    user = request.user
    context = {
        "keys": access.scoped(user, ApiKey.objects.filter(revoked_at__isnull=True)).count(),
        "endpoints": access.scoped(user, WebhookEndpoint.objects.all()).select_related("partner")[:20],
        "imports": access.scoped(user, ExcelImport.objects.all())[:5],
        "connectors": access.scoped(user, PullConnector.objects.all()).select_related("partner")[:20],
        "can_keys": access.can(user, "api_keys.manage"),
        "can_webhooks": access.can(user, "webhooks.manage"),
        "can_excel": access.can(user, "excel.import"),
        "can_connectors": access.can(user, "connectors.manage"),
        "can_sms": access.can(user, "sms.view") and access.is_partner_actor(user),
    }
    return render(request, "integrations/overview.html", context)


# -- API keys -------------------------------------------------------------------------------------------------------


@never_compress
@never_cache
@permission_required("api_keys.manage")
def keys(request):
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = api_keys.api_key_create(
            partner=request.user.partner, actor=request.user, **form.cleaned_data
        )
        form = ApiKeyForm()
    return render(
        request,
        "integrations/keys.html",
        {
            "form": form,
            "issued": issued,
            "keys": access.scoped(request.user, ApiKey.objects.all()).select_related("created_by"),
        },
    )


@require_POST
@permission_required("api_keys.manage")
def key_revoke(request, key_id: int):
    key = access.get_scoped_or_404(request.user, ApiKey.objects.all(), pk=key_id)
    api_keys.api_key_revoke(key=key, actor=request.user)
    messages.success(request, _("The key %(prefix)s… is revoked.") % {"prefix": key.prefix})
    return redirect("integrations:keys")


# -- webhooks -------------------------------------------------------------------------------------------------------


@never_compress
@never_cache
@permission_required("webhooks.manage")
def webhook_list(request):
    form = WebhookEndpointForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhooks.endpoint_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(
                request, _("The endpoint is added. Copy its signing secret now: it is shown once.")
            )
            return render(
                request, "integrations/webhook_secret.html", {"endpoint": endpoint, "secret": secret}
            )
    endpoints = access.scoped(request.user, WebhookEndpoint.objects.all())
    return render(request, "integrations/webhooks.html", {"form": form, "endpoints": endpoints})


@never_cache
@permission_required("webhooks.manage")
def webhook_detail(request, endpoint_id: int):
    endpoint = access.get_scoped_or_404(request.user, WebhookEndpoint.objects.all(), pk=endpoint_id)
    form = WebhookEditForm(
        request.POST or None, initial={"events": endpoint.events, "is_active": endpoint.is_active}
    )
    if request.method == "POST" and form.is_valid():
        webhooks.endpoint_update(actor=request.user, endpoint=endpoint, **form.cleaned_data)
        messages.success(request, _("Saved."))
        return redirect("integrations:webhook", endpoint_id=endpoint.pk)
    log_filter = DeliveryLogFilter(request.GET or None)
    deliveries = _delivery_log(endpoint, log_filter)
    if log_filter.is_bound and not log_filter.is_valid():
        messages.error(
            request, _("The filters are not valid; the log shows nothing until they are corrected.")
        )
    try:
        page = keyset_paginate(
            deliveries,
            ordering=["-id"],
            cursor=request.GET.get("cursor") or None,
            page_size=DELIVERY_LOG_PAGE,
        )
    except InvalidCursor:  # a cursor edited by hand or cut short: the first page, with the same filters
        query = request.GET.copy()
        query.pop("cursor", None)
        url = reverse("integrations:webhook", args=[endpoint.pk])
        return redirect(f"{url}?{query.urlencode()}" if query else url)
    return render(
        request,
        "integrations/webhook_detail.html",
        {"endpoint": endpoint, "form": form, "log_filter": log_filter, "page": page},
    )


def _delivery_log(endpoint: WebhookEndpoint, log_filter: DeliveryLogFilter):
    """The endpoint's deliveries the filters ask for (none while they are not valid), each with its event and every
    attempt in two queries for the whole page. Indexed: the endpoint's deliveries by id, events by order and by
    partner and type, orders by external id."""
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    if log_filter.is_bound:
        if not log_filter.is_valid():
            return deliveries.none()
        wanted = log_filter.cleaned_data
        if wanted["event"]:
            deliveries = deliveries.filter(event__type=wanted["event"])
        if wanted["order"]:
            deliveries = deliveries.filter(event__order_id=wanted["order"])
        if wanted["external_id"].strip():
            deliveries = deliveries.filter(event__order__external_id=wanted["external_id"].strip())
    return deliveries.select_related("event").prefetch_related(
        Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-at", "-id"))
    )


def webhook_panel(order, actor: Actor):
    """The order card's webhook panel (the wiring's CARD_PANELS): the events sent for the order, each with its
    deliveries' state, for those who manage the partner's webhooks."""
    if not access.can(actor, "webhooks.manage"):
        return None
    events = list(
        access.scoped(actor, WebhookEvent.objects.filter(order=order))
        .order_by("-created_at")
        .prefetch_related(
            Prefetch("deliveries", queryset=WebhookDelivery.objects.select_related("endpoint").order_by("id"))
        )[:ORDER_CARD_EVENTS]
    )
    if not events:
        return None
    return "integrations/includes/webhook_panel.html", {"events": events, "order": order}


def crm_panel(order, actor: Actor):
    """The order card's CRM panel (the wiring's CARD_PANELS): which CRM order it is, the last status sent there and
    one still waiting or refused, for those who see the partner's connectors."""
    if order.source != "connector" or not access.can(actor, "connectors.view"):
        return None
    link = access.scoped(actor, CrmOrderLink.objects.filter(order=order)).select_related("connector").first()
    if link is None:
        return None
    newest = link.pushes.order_by("-created_at", "-id").first()
    waiting = newest if newest is not None and newest.state != "sent" else None
    return "integrations/includes/crm_panel.html", {"link": link, "waiting": waiting}


@never_compress
@never_cache
@require_POST
@permission_required("webhooks.manage")
def webhook_rotate(request, endpoint_id: int):
    endpoint = access.get_scoped_or_404(request.user, WebhookEndpoint.objects.all(), pk=endpoint_id)
    secret = webhooks.endpoint_rotate_secret(actor=request.user, endpoint=endpoint)
    return render(
        request, "integrations/webhook_secret.html", {"endpoint": endpoint, "secret": secret, "rotated": True}
    )


@require_POST
@permission_required("webhooks.manage")
def webhook_ping(request, endpoint_id: int):
    endpoint = access.get_scoped_or_404(request.user, WebhookEndpoint.objects.all(), pk=endpoint_id)
    webhooks.endpoint_send_test(actor=request.user, endpoint=endpoint)
    messages.success(request, _("A test event is on its way."))
    return redirect("integrations:webhook", endpoint_id=endpoint.pk)


@require_POST
@permission_required("webhooks.manage")
def delivery_resend(request, delivery_id: int):
    delivery = access.get_scoped_or_404(request.user, WebhookDelivery.objects.all(), pk=delivery_id)
    webhooks.delivery_resend(actor=request.user, delivery=delivery)
    messages.success(request, _("The event will be sent again."))
    return redirect("integrations:webhook", endpoint_id=delivery.endpoint_id)


# -- Excel ----------------------------------------------------------------------------------------------------------


@permission_required("excel.import")
def excel_home(request):
    mappings = access.scoped(request.user, ExcelMapping.objects.all())
    form = ExcelUploadForm(request.POST or None, request.FILES or None, mappings=mappings)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > excel.MAX_FILE_BYTES:
            form.add_error(
                "file",
                _("The file is larger than %(mb)s MB; split it into several files.")
                % {"mb": excel.MAX_FILE_BYTES // (1024 * 1024)},
            )
        else:
            record = excel.excel_receive(
                partner=request.user.partner,
                actor=request.user,
                filename=upload.name,
                content=upload.read(),
                mapping=form.cleaned_data["mapping"],
            )
            return redirect("integrations:excel_import", import_id=record.pk)
    imports = access.scoped(request.user, ExcelImport.objects.all()).select_related("uploaded_by")[:30]
    return render(
        request, "integrations/excel.html", {"form": form, "imports": imports, "mappings": mappings}
    )


@permission_required("excel.import")
def excel_template(request):
    partner = request.user.partner if access.is_partner_actor(request.user) else None
    response = HttpResponse(excel.template_workbook(partner=partner), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = 'attachment; filename="ketlogistic-orders-template.xlsx"'
    return response


@permission_required("excel.import")
def excel_import_detail(request, import_id: int):
    record = access.get_scoped_or_404(
        request.user, ExcelImport.objects.select_related("mapping", "partner"), pk=import_id
    )
    if request.method == "POST":
        try:
            record = excel.excel_import_queue(
                record=record, actor=request.user, only_valid=request.POST.get("only_valid") == "1"
            )
        except excel.ImportRefused as exc:
            messages.error(request, str(exc))
        else:
            return redirect("integrations:excel_import", import_id=record.pk)
    errors = Paginator(record.errors, 200).get_page(request.GET.get("page"))
    errors.object_list = i18n.said(errors.object_list)  # stored as messages: read in the reader's language
    validated = record.state == ExcelImport.State.VALIDATED
    return render(
        request,
        "integrations/excel_import.html",
        {
            "record": record,
            "errors": errors,
            "earlier": excel.earlier_upload(record),
            "preview": excel.preview_rows(record),
            "nothing_to_import": excel.nothing_to_import(record)
            if validated and not record.orders_new
            else "",
            "progress": _excel_progress(record) if record.is_working else None,
            "imported": _imported(record) if record.state == ExcelImport.State.IMPORTED else "",
            "can_retry": record.state == ExcelImport.State.FAILED
            and bool(record.checked_orders if record.stage == ExcelImport.Stage.IMPORT else record.file),
        },
    )


@never_cache
@permission_required("excel.import")
def excel_import_progress(request, import_id: int):
    """The progress bar's body, polled by the page every second while a worker checks or imports the file. Once the
    work is over the page reloads to its result (an import ends on the order list, as before); a request without
    htmx (a browser without JavaScript follows the page's «Refresh» link instead) goes to the page."""
    record = access.get_scoped_or_404(request.user, ExcelImport.objects.all(), pk=import_id)
    if request.headers.get("HX-Request") != "true":
        return redirect("integrations:excel_import", import_id=record.pk)
    if record.is_working and not excel.is_stalled(record):
        return render(request, "includes/progress_body.html", {"progress": _excel_progress(record)})
    response = HttpResponse()
    if record.state == ExcelImport.State.IMPORTED:
        messages.success(request, _imported(record))
        response["HX-Redirect"] = reverse("orders:list")
    else:
        response["HX-Refresh"] = "true"
    return response


@require_POST
@permission_required("excel.import")
def excel_import_retry(request, import_id: int):
    """«Try again» on an upload whose check or import failed or stopped."""
    record = access.get_scoped_or_404(request.user, ExcelImport.objects.all(), pk=import_id)
    try:
        excel.excel_retry(record=record, actor=request.user)
    except excel.ImportRefused as exc:
        messages.error(request, str(exc))
    return redirect("integrations:excel_import", import_id=record.pk)


def _imported(record: ExcelImport) -> str:
    imported = ngettext(
        "Imported %(count)s new order.", "Imported %(count)s new orders.", record.created_orders
    ) % {"count": record.created_orders}
    if record.orders_existing:
        imported += " " + ngettext(
            "%(count)s was already here.", "%(count)s were already here.", record.orders_existing
        ) % {"count": record.orders_existing}
    return imported


def _excel_progress(record: ExcelImport) -> Progress:
    """What the progress bar shows of a file a worker checks or imports (`includes/progress.html`)."""
    stalled = excel.is_stalled(record)
    page = reverse("integrations:excel_import", args=[record.pk])
    importing = record.stage == ExcelImport.Stage.IMPORT
    if not stalled:
        explanation = ""
    elif importing:
        explanation = ngettext(
            "The import has shown no progress for %(minutes)s minute: the server may have been restarted. Press "
            "«Try again»: it goes on where it stopped, and no order is imported twice.",
            "The import has shown no progress for %(minutes)s minutes: the server may have been restarted. Press "
            "«Try again»: it goes on where it stopped, and no order is imported twice.",
            excel.STALE_MINUTES,
        ) % {"minutes": excel.STALE_MINUTES}
    else:
        explanation = ngettext(
            "The check has shown no progress for %(minutes)s minute: the server may have been restarted. Press "
            "«Try again»; if it stops again, write to our support and give the upload's number %(number)s.",
            "The check has shown no progress for %(minutes)s minutes: the server may have been restarted. Press "
            "«Try again»; if it stops again, write to our support and give the upload's number %(number)s.",
            excel.STALE_MINUTES,
        ) % {"minutes": excel.STALE_MINUTES, "number": record.pk}
    return Progress(
        key=f"excel-{record.pk}",
        label=ExcelImport.Stage(record.stage).label,
        step=(2 if record.stage == ExcelImport.Stage.CHECK else 1) if not importing else None,
        steps=2,
        done=record.progress_done,
        total=record.progress_total,
        unit="orders" if importing else "rows",
        poll_url=None if stalled else reverse("integrations:excel_progress", args=[record.pk]),
        page_url=page,
        stalled=explanation,
        retry_url=reverse("integrations:excel_retry", args=[record.pk]) if stalled else None,
    )


@permission_required("excel.import")
def excel_mapping(request, import_id: int):
    """Build a column mapping from an uploaded file's own headers, then check the file with it."""
    record = access.get_scoped_or_404(
        request.user, ExcelImport.objects.select_related("mapping"), pk=import_id
    )
    if not record.file:
        messages.error(request, _("This file can no longer be read; upload it again."))
        return redirect("integrations:excel")
    content = excel.stored_content(record)
    try:
        headers = excel.headers_of(content)
    except excel.FileRejected as exc:
        messages.error(request, str(exc))
        return redirect("integrations:excel")
    initial = {"name": _("My file"), **{f"col_{f}": h for f, h in excel.guess_mapping(headers).items()}}
    if record.mapping is not None:  # checked with a mapping already: edit that one
        initial["name"] = record.mapping.name
        initial.update({f"col_{f}": h for f, h in record.mapping.columns.items() if h in headers})
        initial.update({f"{f}_per_line": True for f in record.mapping.per_line})
    form = MappingForm(request.POST or None, headers=headers, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            mapping = excel.mapping_save(
                partner=request.user.partner,
                actor=request.user,
                name=form.cleaned_data["name"],
                columns=form.columns(),
                per_line=form.per_line(),
            )
        except ValidationError as exc:
            form.add_error(None, " ".join(exc.messages))
        else:
            checked = excel.excel_receive(
                partner=request.user.partner,
                actor=request.user,
                filename=record.original_name,
                content=content,
                mapping=mapping,
            )
            messages.success(
                request, _("Mapping “%(name)s” saved; the file is checked with it.") % {"name": mapping.name}
            )
            return redirect("integrations:excel_import", import_id=checked.pk)
    return render(
        request, "integrations/excel_mapping.html", {"record": record, "form": form, "headers": headers}
    )


# -- pull connectors ------------------------------------------------------------------------------------------------


def _connector_partner(request) -> Partner:
    if access.is_partner_actor(request.user):
        return request.user.partner
    partner_id = request.POST.get("partner") or request.GET.get("partner")
    if not partner_id:
        raise PermissionDenied
    return access.get_scoped_or_404(request.user, Partner.objects.all(), pk=partner_id)


@permission_required("connectors.view")
def connector_list(request):
    connectors = access.scoped(request.user, PullConnector.objects.all()).select_related("partner")
    return render(
        request,
        "integrations/connectors.html",
        {
            "connectors": connectors,
            "can_manage": access.can(request.user, "connectors.manage"),
            "kinds": PullConnector.Kind.choices,
            "partners": access.visible_partners(request.user)
            if not access.is_partner_actor(request.user)
            else None,
        },
    )


@permission_required("connectors.manage")
def connector_edit(request, connector_id: int | None = None):
    connector = None
    if connector_id is not None:
        connector = access.get_scoped_or_404(
            request.user, PullConnector.objects.select_related("partner"), pk=connector_id
        )
        if crm_sync.is_crm(connector):
            return _crm_connector_edit(request, connector=connector, partner=connector.partner)
        partner = connector.partner
        initial = {
            name: getattr(connector, name)
            for name in (
                "name",
                "url",
                "schedule",
                "interval_minutes",
                "daily_at",
                "records_path",
                "mapping",
                "is_active",
            )
        }
    else:
        partner = _connector_partner(request)
        kind = request.POST.get("kind") or request.GET.get("kind") or PullConnector.Kind.JSON
        if kind in crm_sync.ADAPTERS:
            return _crm_connector_edit(request, connector=None, partner=partner, kind=kind)
        initial = {"is_active": True, "interval_minutes": 10}
    form = ConnectorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["auth_header"] = data.get("auth_header") or (None if connector else "")
        try:
            connector = services.connector_save(
                actor=request.user, partner=partner, connector=connector, **data
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("integrations:connector", connector_id=connector.pk)
    return render(
        request,
        "integrations/connector_form.html",
        {"form": form, "connector": connector, "partner": partner},
    )


def _crm_connector_edit(
    request, *, connector: PullConnector | None, partner: Partner, kind: str | None = None
):
    """A RetailCRM or Bitrix24 connector: address and key, then (once a check has read the CRM's lists) which
    orders to take and which of our statuses go back as which of the CRM's."""
    kind = connector.kind if connector else kind
    adapter = crm_sync.adapter_class(kind)
    if connector is not None:
        initial = {
            "name": connector.name,
            "url": connector.url,
            "interval_minutes": connector.interval_minutes,
            "number_prefix": connector.number_prefix,
            "is_active": connector.is_active,
        }
        for setting in adapter.settings_fields:
            initial[f"set_{setting.name}"] = (connector.settings or {}).get(setting.name, setting.default)
        for status, code in (connector.status_map or {}).items():
            initial[f"map_{status}"] = code
        reference, saved_settings, saved_map = (
            connector.reference or {},
            connector.settings or {},
            connector.status_map or {},
        )
    else:
        initial = {"is_active": True, "interval_minutes": 10}
        reference, saved_settings, saved_map = {}, {}, {}
    form = CrmConnectorForm(
        request.POST or None,
        initial=initial,
        adapter=adapter,
        reference=reference,
        saved_settings=saved_settings,
        saved_map=saved_map,
        editing=connector is not None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        url = data["url"].strip()
        try:
            connector = services.crm_connector_save(
                actor=request.user,
                partner=partner,
                connector=connector,
                kind=kind,
                name=data["name"],
                url=None if connector is not None and url == connector.url else url,
                secret=data.get("secret") or "",
                settings=form.settings(),
                status_map=form.status_map(),
                interval_minutes=data["interval_minutes"],
                is_active=data["is_active"],
                number_prefix=data.get("number_prefix") or "",
            )
        except ValidationError as exc:
            errors_to_form(form, _crm_errors(form, exc))
        else:
            messages.success(request, _("Saved."))
            return redirect("integrations:connector", connector_id=connector.pk)
    return render(
        request,
        "integrations/crm_connector_form.html",
        {
            "form": form,
            "connector": connector,
            "partner": partner,
            "kind": kind,
            "kind_label": PullConnector.Kind(kind).label,
            "adapter": adapter,
            "reference_read": bool(reference),
        },
    )


def _crm_errors(form, exc: ValidationError) -> ValidationError:
    """The service's errors by setting name onto the form's fields (`set_<name>`); others by their own name."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {
            (f"set_{name}" if f"set_{name}" in form.fields else name): errors
            for name, errors in exc.error_dict.items()
        }
    )


@permission_required("connectors.view")
def connector_detail(request, connector_id: int):
    connector = access.get_scoped_or_404(
        request.user, PullConnector.objects.select_related("partner"), pk=connector_id
    )
    runs = Paginator(ConnectorRun.objects.filter(connector=connector), 50).get_page(request.GET.get("page"))
    context = {
        "connector": connector,
        "page": runs,
        "can_manage": access.can(request.user, "connectors.manage"),
    }
    if crm_sync.is_crm(connector):
        context.update(crm_sync.connector_panel(connector))
    return render(request, "integrations/connector_detail.html", context)


@require_POST
@permission_required("connectors.manage")
def connector_check(request, connector_id: int):
    connector = access.get_scoped_or_404(
        request.user, PullConnector.objects.select_related("partner"), pk=connector_id
    )
    if not crm_sync.is_crm(connector):
        messages.info(
            request, _("A JSON connector has no connection check: «Run now» shows what its address answers.")
        )
        return redirect("integrations:connector", connector_id=connector.pk)
    _run, queued = connectors.connector_run_request(
        actor=request.user, connector=connector, direction=ConnectorRun.Direction.CHECK
    )
    if queued:
        messages.success(
            request, _("The check is queued; the CRM's lists appear in the settings when it is done.")
        )
    else:
        messages.info(request, _("A check of this connector is already queued or running."))
    return redirect("integrations:connector", connector_id=connector.pk)


@require_POST
@permission_required("connectors.manage")
def connector_push_retry(request, connector_id: int):
    connector = access.get_scoped_or_404(
        request.user, PullConnector.objects.select_related("partner"), pk=connector_id
    )
    count = services.crm_pushes_retry(actor=request.user, connector=connector)
    messages.success(
        request,
        ngettext("%(count)s status will be sent again.", "%(count)s statuses will be sent again.", count)
        % {"count": count},
    )
    return redirect("integrations:connector", connector_id=connector.pk)


@require_POST
@permission_required("connectors.manage")
def connector_run_now(request, connector_id: int):
    connector = access.get_scoped_or_404(
        request.user, PullConnector.objects.select_related("partner"), pk=connector_id
    )
    _run, queued = connectors.connector_run_request(actor=request.user, connector=connector)
    if queued:
        messages.success(request, _("The run is queued; its result appears in the list of runs."))
    else:
        messages.info(request, _("A run of this connector is already queued or running."))
    return redirect("integrations:connector", connector_id=connector.pk)


# -- SMS to customers -----------------------------------------------------------------------------------------------


@never_cache
@permission_required("sms.view")
def sms_page(request, partner_id: int | None = None):
    """A partner's customer SMS: which events send, the language and its own texts (its administrator edits them;
    its staff and our staff read them), with the messages sent, or the sandbox's log of its test orders' SMS."""
    if partner_id is None:
        if not access.is_partner_actor(request.user):
            raise Http404
        partner = request.user.partner
    else:
        partner = access.get_scoped_or_404(request.user, Partner.objects.all(), id=partner_id)
    editable = sms.can_edit(request.user, partner)
    here = (
        reverse("integrations:sms")
        if partner_id is None
        else reverse("integrations:partner_sms", args=[partner.pk])
    )
    texts = None
    if request.method == "POST":
        if not editable:
            raise PermissionDenied
        form = SmsSettingsForm(request.POST)
        if form.is_valid():
            try:
                sms.sms_settings_save(actor=request.user, partner=partner, **form.service_arguments())
            except ValidationError as exc:
                errors_to_form(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(here)
        texts = form.posted_texts()
    editor = selectors.sms_editor(partner, texts=texts)
    if request.method != "POST":
        chosen = editor["settings"]
        form = SmsSettingsForm(
            initial={
                "language": chosen.language,
                "texts_language": chosen.language,
                **{f"on_{item.event}": item.is_on for item in editor["events"]},
                **{f"text_{item.event}": item.own for item in editor["events"]},
            }
        )
    sandbox = request.GET.get("log") == "sandbox"
    try:
        page = selectors.sms_messages_page(
            request.user, partner, sandbox=sandbox, cursor=request.GET.get("cursor") or None
        )
    except InvalidCursor:
        return redirect(f"{here}?log=sandbox" if sandbox else here)
    for item in editor["events"]:
        form.fields[item.field].widget.attrs["placeholder"] = item.default
    rows = [(item, form[item.field], form[f"on_{item.event}"]) for item in editor["events"]]
    return render(
        request,
        "integrations/sms.html",
        {
            "partner": partner,
            "form": form,
            "editable": editable,
            "editor": editor,
            "rows": rows,
            "page": page,
            "sandbox": sandbox,
            "here": here,
            "figures": sms_reports.weekly_figures(request.user, partner),
            "placeholders": [f"{{{name}}}" for name in PLACEHOLDERS],
            "samples_json": json.dumps(editor["samples"], ensure_ascii=False),
        },
    )


def sms_customer_panel(orders, actor: Actor):
    """The customer card's SMS (the wiring's CUSTOMER_CARD_PANELS): what was sent to the customer's orders, each
    with its event, the time it went out (or was written, when it has not yet) in the customer's zone, its state and
    the masked number; one query for all the orders shown."""
    if not orders:
        return None
    by_id = {order.pk: order for order in orders}
    rows = [(message, by_id[message.order_id]) for message in sms_reports.customer_messages(actor, orders)]
    return "integrations/includes/sms_customer_panel.html", {"rows": rows}


def _sms_costs_filters(request) -> tuple[SmsCostsFilter, date, str | None]:
    """The report's month and country from the query (the current month and both countries by default; a value that
    is not a month or a country is named on the form and the default is shown)."""
    today = timezone.localdate()
    data = request.GET.copy()
    if not data.get("month"):
        data["month"] = f"{today:%Y-%m}"
    form = SmsCostsFilter(data)
    form.is_valid()
    month = form.cleaned_data.get("month") or today.replace(day=1)
    return form, month, form.cleaned_data.get("country") or None


@permission_required("sms.costs")
def sms_costs(request):
    """What the customers' SMS cost the company in a month, per partner: messages sent, their parts, the
    aggregator's price of a part in the partner's country and the cost, in the partner's currency."""
    form, month, country = _sms_costs_filters(request)
    rows = sms_reports.costs(request.user, month=month, country=country)
    return render(
        request,
        "integrations/sms_costs.html",
        {
            "form": form,
            "month": month,
            "rows": rows,
            "totals": sms_reports.cost_totals(rows),
            "prices": sms_reports.prices(),
            "query": form.data.urlencode(),
        },
    )


@permission_required("sms.costs")
def sms_costs_export(request):
    """The SMS costs report in Excel, as the page filters it."""
    _form, month, country = _sms_costs_filters(request)
    rows = sms_reports.costs(request.user, month=month, country=country)
    return sms_reports.costs_workbook_response(rows, month=month, country=country)
