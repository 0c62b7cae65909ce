"""Warehouse pages: stock reports for partners and staff, receipts, transfers with acts and photo
reports, returns, contract end. Every queryset comes through the access module."""

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from catalogue.models import Product
from ketlogistic.core import access
from ketlogistic.core.db_routing import reads_from_replica
from ketlogistic.core.decorators import permission_required
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.forms import errors_to_messages
from ketlogistic.core.models import Partner
from ketlogistic.core.money import parse_money
from ketlogistic.core.pagination import InvalidCursor, keyset_paginate
from ketlogistic.core.params import parse_day, parse_id
from orders.models import ChatMessage

from . import contract_end, exports, selectors, transfers, transport
from .forms import (
    LinesForm,
    ReceiptForm,
    ReturnForm,
    StockFilterForm,
    TransportPriceForm,
    TransportRequestForm,
)
from .models import ContractEnd, Receipt, Transfer, TransportRequest, WarehouseCharge
from .transfers import PHOTO_FORMATS

# -- stock ----------------------------------------------------------------------------------------------------------


def _stock_tables(rows, cities) -> list[dict]:
    """The products × cities table, one per country when the stock is in both: Kazakhstan's and Kyrgyzstan's cities
    side by side would not fit a desk's screen. A product sits in the table of each country where it has stock (one
    with none at all, in the first). Each row's cells are looked up here once, one per city column: the template
    must not search per cell."""
    countries = sorted({country for country, _name, _city_id in cities}) or [""]
    tables = [
        {"country": country, "cities": [c for c in cities if c[0] == country or not country], "rows": []}
        for country in countries
    ]
    for row in rows:
        placed = False
        for table in tables:
            cells = [row.cities.get((country, name)) for country, name, _city_id in table["cities"]]
            if any(cell is not None for cell in cells) or (not placed and table is tables[-1]):
                table["rows"].append((row, cells))
                placed = True
    return tables


@permission_required("stock.view")
@reads_from_replica
def stock(request):
    form = StockFilterForm(request.GET or None, actor=request.user)
    filters = form.cleaned_data if form.is_valid() else {}
    rows, cities = selectors.stock_rows(
        request.user,
        city_id=filters.get("city").pk if filters.get("city") else None,
        country=filters.get("country") or None,
        sku=filters.get("sku") or None,
    )
    if request.GET.get("format") == "xlsx" and access.can(request.user, "stock.export"):
        return exports.stock_workbook_response(rows, cities)
    return render(
        request,
        "warehouses/stock.html",
        {
            "form": form,
            "rows": rows,
            "tables": _stock_tables(rows, cities),
            "countries": selectors.stock_by_country(rows),
            "is_partner": access.is_partner_actor(request.user),
            "query": request.GET.urlencode(),
            "can_export": access.can(request.user, "stock.export"),
        },
    )


@permission_required("stock.view")
@reads_from_replica
def product_moves(request, product_id: int):
    # a sandbox product is never stocked and never shown on a live page
    product = access.get_scoped_or_404(
        request.user, Product.objects.filter(is_test=False).select_related("partner"), pk=product_id
    )
    moves = selectors.moves_visible(request.user).filter(product=product)
    if request.GET.get("format") == "xlsx" and access.can(request.user, "stock.export"):
        return exports.moves_workbook_response(product, moves)
    try:
        page = keyset_paginate(
            moves, ordering=["-at", "-id"], cursor=request.GET.get("cursor"), page_size=100
        )
    except InvalidCursor:
        return redirect("warehouses:product_moves", product_id=product.pk)
    rows, _cities = selectors.stock_rows(request.user, product_id=product.pk)
    return render(
        request,
        "warehouses/product_moves.html",
        {
            "product": product,
            "page": page,
            "stock": rows[0] if rows else None,
            "can_export": access.can(request.user, "stock.export"),
        },
    )


# -- receipts -------------------------------------------------------------------------------------------------------


@permission_required("receipts.view")
def receipt_list(request):
    status = request.GET.get("status", "")
    if status not in Receipt.Status.values:
        status = ""
    receipts = selectors.receipts_visible(request.user, status=status or None)
    page = Paginator(receipts, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "warehouses/receipts.html",
        {
            "page": page,
            "status": status,
            "statuses": Receipt.Status.choices,
            "can_manage": access.can(request.user, "receipts.manage"),
        },
    )


@permission_required("receipts.manage")
def receipt_create(request):
    partner = None
    if request.GET.get("partner") or request.POST.get("partner"):
        partner = access.get_scoped_or_404(
            request.user, Partner.objects.all(), pk=request.GET.get("partner") or request.POST.get("partner")
        )
    form = ReceiptForm(request.POST or None, actor=request.user, partner=partner)
    lines = LinesForm(request.POST or None, products=form.products, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        try:
            receipt = transfers.receipt_create(
                actor=request.user,
                partner=form.cleaned_data["partner"],
                lines=lines.chosen(),
                expected_on=form.cleaned_data["expected_on"],
                is_pickup=form.cleaned_data["is_pickup"],
                pickup_from=form.cleaned_data["pickup_from"],
                pickup_price=form.cleaned_data["pickup_price"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("Receipt №%(number)s is expected.") % {"number": receipt.pk})
            return redirect("warehouses:receipt", receipt_id=receipt.pk)
    return render(request, "warehouses/receipt_form.html", {"form": form, "lines": lines, "partner": partner})


@permission_required("receipts.view")
def receipt_detail(request, receipt_id: int):
    receipt = access.get_scoped_or_404(
        request.user, Receipt.objects.select_related("partner", "warehouse"), pk=receipt_id
    )
    lines = list(receipt.lines.select_related("product"))
    if request.method == "POST":
        if not access.can(request.user, "receipts.manage"):
            raise PermissionDenied
        counted = {
            line.pk: (_int(request.POST.get(f"counted_{line.pk}")), request.POST.get(f"reason_{line.pk}", ""))
            for line in lines
        }
        try:
            transfers.receipt_confirm(actor=request.user, receipt=receipt, counted=counted)
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(request, _("The goods are on the shelf of the main warehouse."))
            return redirect("warehouses:receipt", receipt_id=receipt.pk)
    return render(
        request,
        "warehouses/receipt_detail.html",
        {"receipt": receipt, "lines": lines, "can_manage": access.can(request.user, "receipts.manage")},
    )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- transfers ------------------------------------------------------------------------------------------------------


@permission_required("transfers.view")
def transfer_list(request):
    transfers_ = selectors.transfers_visible(request.user)
    status = request.GET.get("status")
    if status in Transfer.Status.values:
        transfers_ = transfers_.filter(status=status)
    kind = request.GET.get("kind")
    if kind in Transfer.Kind.values:
        transfers_ = transfers_.filter(kind=kind)
    ship_by = parse_day(request.GET.get("ship_by"))  # planned to ship on that day or before (late drafts too)
    if ship_by:
        transfers_ = transfers_.filter(planned_ship_date__lte=ship_by)
    page = Paginator(transfers_.order_by("-planned_ship_date", "-id"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "warehouses/transfers.html",
        {
            "page": page,
            "status": status,
            "kind": kind,
            "ship_by": ship_by,
            "statuses": Transfer.Status.choices,
            "kinds": Transfer.Kind.choices,
            "can_manage": access.can(request.user, "transfers.manage"),
        },
    )


@permission_required("transfers.view")
def transfer_detail(request, transfer_id: int):
    transfer = access.get_scoped_or_404(
        request.user, selectors.transfers_visible(request.user), pk=transfer_id
    )
    lines = list(transfer.lines.select_related("product", "order").order_by("order_id", "product__sku"))
    can_manage = access.can(request.user, "transfers.manage")
    can_receive = access.can(request.user, "transfers.receive") and transfer.status == Transfer.Status.SHIPPED
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "save" and can_manage:
                quantities = {
                    line.pk: _int(request.POST.get(f"quantity_{line.pk}")) or 0
                    for line in lines
                    if not line.order_id
                }
                with transaction.atomic():
                    transfers.transfer_set_quantities(
                        actor=request.user, transfer=transfer, quantities=quantities
                    )
                    if transfer.kind == Transfer.Kind.UNSCHEDULED_RETURN and "transport_cost" in request.POST:
                        transfers.transfer_set_transport_cost(
                            actor=request.user,
                            transfer=transfer,
                            cost=_money(request.POST.get("transport_cost"), "transport_cost"),
                        )
                messages.success(request, _("Saved."))
            elif action == "ship" and can_manage:
                with transaction.atomic():
                    # an unscheduled return's cost typed in and shipped at once, without saving first
                    entered = _money(request.POST.get("transport_cost"), "transport_cost")
                    if transfer.kind == Transfer.Kind.UNSCHEDULED_RETURN and entered is not None:
                        transfers.transfer_set_transport_cost(
                            actor=request.user, transfer=transfer, cost=entered
                        )
                    transfers.transfer_ship(actor=request.user, transfer=transfer)
                messages.success(request, _("Shipped: the goods are in transit."))
            elif action == "cancel" and can_manage:
                transfers.transfer_cancel(actor=request.user, transfer=transfer)
                messages.success(request, _("The draft is cancelled."))
            elif action == "receive" and can_receive:
                received = {
                    line.pk: (
                        _int(request.POST.get(f"received_{line.pk}")),
                        request.POST.get(f"reason_{line.pk}", ""),
                    )
                    for line in lines
                }
                transfers.transfer_receive(
                    actor=request.user,
                    transfer=transfer,
                    received=received,
                    photo=request.FILES.get("photo"),
                    note=request.POST.get("note", ""),
                )
                messages.success(request, _("Received: the goods are on the shelf and waiting orders go on."))
            else:
                raise PermissionDenied
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            return redirect("warehouses:transfer", transfer_id=transfer.pk)
    paid = transfer.kind in transfers.PAID_TRANSPORT
    return render(
        request,
        "warehouses/transfer_detail.html",
        {
            "transfer": transfer,
            "lines": lines,
            "can_manage": can_manage,
            "can_receive": can_receive,
            "is_partner": access.is_partner_actor(request.user),
            "is_paid": paid,
            "enters_cost": can_manage
            and transfer.kind == Transfer.Kind.UNSCHEDULED_RETURN
            and transfer.status == Transfer.Status.DRAFT,
            "suggested_cost": transfers.suggested_return_cost(transfer.partner)
            if transfer.kind == Transfer.Kind.UNSCHEDULED_RETURN and can_manage
            else None,
            "charge": WarehouseCharge.objects.filter(transfer=transfer).first() if paid else None,
            "transport_request": TransportRequest.objects.filter(transfer=transfer).first()
            if transfer.kind == Transfer.Kind.CITY_TRANSFER
            else None,
        },
    )


def _money(value, field: str):
    """A typed sum or None when left empty (ValidationError naming the field when it is no sum)."""
    if value is None or not str(value).strip():
        return None
    return parse_money(value, field)


@permission_required("transfers.view")
def transfer_act(request, transfer_id: int):
    """The act of shipped goods (акт ушедшего товара): printable, or Excel with ?format=xlsx."""
    transfer = access.get_scoped_or_404(
        request.user, selectors.transfers_visible(request.user), pk=transfer_id
    )
    lines = list(transfer.lines.select_related("product", "order").order_by("order_id", "product__sku"))
    if request.GET.get("format") == "xlsx":
        return exports.transfer_act_response(transfer, lines)
    return render(request, "warehouses/transfer_act.html", {"transfer": transfer, "lines": lines})


@permission_required("transfers.view")
def transfer_photo(request, transfer_id: int):
    """The photo report, served only to those who may see the transfer, as an image that cannot run."""
    transfer = access.get_scoped_or_404(
        request.user, selectors.transfers_visible(request.user), pk=transfer_id
    )
    if not transfer.receipt_photo:
        raise Http404
    extension = transfer.receipt_photo.name.rsplit(".", 1)[-1].lower()
    content_type = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}.get(extension)
    if content_type not in PHOTO_FORMATS.values():
        raise Http404
    response = FileResponse(transfer.receipt_photo.open("rb"), content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="transfer-{transfer.pk}.{extension}"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_POST
@permission_required("transfers.manage")
def plan_supply(request):
    try:
        ship_date = date.fromisoformat(request.POST.get("ship_date", ""))
    except ValueError:
        ship_date = timezone.localdate()
    # staff plan for the partners they serve: a head of partner B drafts no transfers of partner A
    drafts = transfers.plan_supply(
        ship_date=ship_date, partner_ids=access.visible_partners(request.user).values_list("id", flat=True)
    )
    messages.success(
        request,
        ngettext(
            "%(count)s draft transfer prepared for %(day)s.",
            "%(count)s draft transfers prepared for %(day)s.",
            len(drafts),
        )
        % {"count": len(drafts), "day": ship_date.strftime("%d.%m.%Y")},
    )
    return redirect(f"{_transfers_url()}?status=draft")


def _transfers_url():
    from django.urls import reverse

    return reverse("warehouses:transfers")


@permission_required("transfers.manage")
def return_create(request):
    form = ReturnForm(request.POST or None, actor=request.user)
    lines = LinesForm(request.POST or None, products=form.products, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        try:
            transfer = transfers.return_create(
                actor=request.user,
                partner=form.cleaned_data["partner"],
                origin=form.cleaned_data["origin"],
                lines=lines.chosen(),
                transport_cost=form.cleaned_data["transport_cost"],
            )
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            if transfer.kind == Transfer.Kind.UNSCHEDULED_RETURN:
                messages.warning(
                    request,
                    _(
                        "Outside the 4th–6th the partner pays this return's transport: enter its real cost before "
                        "it ships."
                    )
                    if transfer.transport_cost is None
                    else _("Outside the 4th–6th the partner pays this return's transport."),
                )
            return redirect("warehouses:transfer", transfer_id=transfer.pk)
    return render(
        request,
        "warehouses/return_form.html",
        {"form": form, "lines": lines, "in_window": transfers.is_return_window(timezone.localdate())},
    )


# -- contract end and charges ---------------------------------------------------------------------------------------


@permission_required("contract_end.manage")
def contract_end_view(request, partner_id: int):
    partner = access.get_scoped_or_404(request.user, Partner.objects.all(), pk=partner_id)
    end = ContractEnd.objects.filter(partner=partner).first()
    if request.method == "POST":
        try:
            if request.POST.get("action") == "start":
                contract_end.contract_end_start(actor=request.user, partner=partner)
                messages.success(request, _("Contract end started: the goods are being gathered."))
            elif request.POST.get("action") == "collect":
                contract_end.contract_end_collect(actor=request.user, partner=partner)
                messages.success(request, _("The partner collected its goods."))
        except ApplicationError as exc:
            errors_to_messages(request, exc)
        return redirect("warehouses:contract_end", partner_id=partner.pk)
    rows, _cities = selectors.stock_rows(request.user, partner_id=partner.pk)
    return render(
        request,
        "warehouses/contract_end.html",
        {
            "partner": partner,
            "end": end,
            "rows": rows,
            "charges": WarehouseCharge.objects.filter(partner=partner, kind=WarehouseCharge.Kind.STORAGE)[
                :60
            ],
        },
    )


@permission_required("warehouse_charges.view")
def charges(request):
    rows = access.scoped(request.user, WarehouseCharge.objects.select_related("partner"))
    page = Paginator(rows.order_by("-occurred_on", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "warehouses/charges.html", {"page": page})


# -- transport between cities on the partner's request -----------------------------------------------------------------


@permission_required("transport.view")
def transport_requests(request):
    rows = selectors.transport_requests_visible(request.user)
    status = request.GET.get("status", "")
    if status in TransportRequest.Status.values:
        rows = rows.filter(status=status)
    else:
        status = ""
    page = Paginator(rows.order_by("-requested_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "warehouses/transport_requests.html",
        {
            "page": page,
            "status": status,
            "statuses": TransportRequest.Status.choices,
            "can_request": access.can(request.user, "transport.request"),
            "is_partner": access.is_partner_actor(request.user),
        },
    )


@permission_required("transport.request")
def transport_request_create(request):
    """A partner asks for a transfer between cities (in its own cabinet: staff price what partners ask)."""
    if not access.is_partner_actor(request.user):
        raise Http404
    partner = request.user.partner
    form = TransportRequestForm(request.POST or None, warehouses=transport.city_warehouses(partner))
    products = Product.objects.filter(partner=partner, is_active=True, is_test=False).order_by("sku")
    lines = LinesForm(request.POST or None, products=products, prefix="lines")
    if request.method == "POST" and form.is_valid() and lines.is_valid():
        try:
            made = transport.transport_request_create(
                actor=request.user,
                partner=partner,
                origin=form.cleaned_data["origin"],
                destination=form.cleaned_data["destination"],
                lines=lines.chosen(),
                comment=form.cleaned_data["comment"],
            )
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        else:
            messages.success(
                request,
                _("Request №%(number)s is sent: we will propose the transport cost.") % {"number": made.pk},
            )
            return redirect("warehouses:transport_request", transport_id=made.pk)
    return render(request, "warehouses/transport_request_form.html", {"form": form, "lines": lines})


@permission_required("transport.view")
def transport_request_detail(request, transport_id: int):
    found = access.get_scoped_or_404(
        request.user,
        selectors.transport_requests_visible(request.user),
        pk=transport_id,
    )
    can_price = access.can(request.user, "transport.price")
    can_accept = access.can(request.user, "transport.accept")
    open_ = found.status in (TransportRequest.Status.REQUESTED, TransportRequest.Status.PRICED)
    price_form = TransportPriceForm(
        request.POST if request.POST.get("action") == "price" else None,
        initial={"cost": found.cost, "note": found.cost_note},
    )
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "price" and can_price:
                if price_form.is_valid():
                    transport.transport_request_price(
                        actor=request.user,
                        request=found,
                        cost=price_form.cleaned_data["cost"],
                        note=price_form.cleaned_data["note"],
                    )
                    messages.success(request, _("The cost is proposed to the partner."))
                    return redirect("warehouses:transport_request", transport_id=found.pk)
            elif action == "decline" and can_price:
                transport.transport_request_decline(
                    actor=request.user, request=found, reason=request.POST.get("reason", "")
                )
                messages.success(request, _("The request is declined."))
            elif action == "accept" and can_accept:
                transport.transport_request_accept(actor=request.user, request=found)
                messages.success(request, _("Accepted: our warehouse prepares the transfer."))
            elif action == "accept_chat" and can_price:
                answer = access.get_scoped_or_404(
                    request.user,
                    ChatMessage.objects.all(),
                    pk=parse_id(request.POST.get("message")),
                )
                transport.transport_request_accept_from_chat(
                    actor=request.user, request=found, message=answer
                )
                messages.success(
                    request, _("The partner's acceptance is recorded: the transfer is prepared.")
                )
            elif action == "cancel" and can_accept:
                transport.transport_request_cancel(
                    actor=request.user, request=found, reason=request.POST.get("reason", "")
                )
                messages.success(request, _("The request is cancelled."))
            else:
                raise PermissionDenied
        except (ValidationError, ApplicationError) as exc:
            errors_to_messages(request, exc)
        if action != "price":
            return redirect("warehouses:transport_request", transport_id=found.pk)
    lines = list(found.lines.select_related("product"))
    free = selectors.free_at(found)
    for line in lines:
        line.free_now = free.get(line.product_id, 0)
    return render(
        request,
        "warehouses/transport_request.html",
        {
            "found": found,
            "lines": lines,
            "is_partner": access.is_partner_actor(request.user),
            "can_price": can_price and open_,
            "can_accept": can_accept and found.status == TransportRequest.Status.PRICED,
            "can_cancel": can_accept and open_,
            "price_form": price_form,
            "answers": transport.partner_answers(found)
            if can_price
            and found.status == TransportRequest.Status.PRICED
            and access.can(request.user, "chat.view")
            else [],
            "can_open_chat": access.can(request.user, "chat.view"),
        },
    )
