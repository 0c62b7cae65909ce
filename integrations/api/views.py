"""REST API v1 for partner CRMs. Thin: validate, call one service or selector, serialize.

Every queryset comes through `access.scoped` for the key's partner. A sandbox key is a world of its own: it
sees and makes only test orders and sandbox products, gets empty stock and a zero balance, and its
Idempotency-Keys and order numbers never meet a live key's (and the other way round).
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import claims as claim_services
from billing.models import Claim, ClaimFile, ClaimMessage, Entry
from billing.selectors import balance_summary
from catalogue.models import Product
from catalogue.services import product_create, product_update
from ketlogistic.core import access
from ketlogistic.core.db_routing import reads_from_replica
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.models import Partner
from ketlogistic.core.pagination import InvalidCursor, keyset_paginate
from ketlogistic.core.params import parse_id
from orders import services as order_services
from orders import workflow
from orders.intake import orders_create_many
from orders.models import Order, OrderAmendment, OrderHistory, OrderItem, OrderPhone
from orders.statuses import FINAL_STATUSES, OrderSource, OrderStatus
from warehouses.models import StockMove
from warehouses.selectors import stock_rows

from ..sandbox import NEXT_STEP, sandbox_advance
from . import filters, representation
from . import serializers as s
from .authentication import ApiKeyAuthentication
from .errors import error_body
from .idempotency import KEEP_HOURS, idempotent
from .parsers import SafeJSONParser
from .throttling import ApiKeyBulkRateThrottle, ApiKeyRateThrottle

MAX_BULK = s.MAX_BULK
PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
ERRORS = {
    code: OpenApiResponse(serializer, description=text)
    for code, (serializer, text) in {
        400: (s.ErrorSerializer, "Invalid request: `details` names each bad field or parameter"),
        401: (s.ErrorSerializer, "Missing or invalid API key"),
        403: (s.ErrorSerializer, "Not allowed for this key"),
        404: (s.ErrorSerializer, "Not found"),
        413: (s.ErrorSerializer, "Body too large"),
        415: (s.ErrorSerializer, "The body is not JSON"),
        429: (s.ThrottledErrorSerializer, "Too many requests: retry after `Retry-After` seconds"),
        503: (
            s.UnavailableErrorSerializer,
            "The database connection was lost: retry after `Retry-After` seconds (with the same Idempotency-Key)",
        ),
    }.items()
}
REUSED = OpenApiResponse(s.ErrorSerializer, "Idempotency-Key reused with another request")
IN_FLIGHT = "a request with this Idempotency-Key is still in progress (`idempotency_key_in_flight`)"
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
    },
    OpenApiParameter.HEADER,
    description=f"1–255 printable characters; the same key and body within {KEEP_HOURS} hours replay the first "
    "answer (with `Idempotent-Replayed: true`)",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "integer", "minimum": 1},
    OpenApiParameter.HEADER,
    response=[429, 503],
    description="Seconds to wait before retrying",
)


def replayed(*codes: int) -> OpenApiParameter:
    """`Idempotent-Replayed: true` on the answers an Idempotency-Key stores (`idempotency.is_stored`): sent when
    the answer is the stored one of an earlier request with the same key and body."""
    return OpenApiParameter(
        "Idempotent-Replayed",
        {"type": "string", "enum": ["true"]},
        OpenApiParameter.HEADER,
        response=list(codes),
        description=f"`true` when this is the stored answer of an earlier request with the same Idempotency-Key "
        f"and body (kept {KEEP_HOURS} hours); absent otherwise",
    )


PAGE_SIZE_PARAMETER = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": PAGE_SIZE},
    description=f"Rows per page: 1–{MAX_PAGE_SIZE}, default {PAGE_SIZE}; anything else is a 400",
)
# What any body can get: not JSON or not valid (400), too large (413), another content type (415).
BODY = (400, 413, 415)


def errors(*codes: int) -> dict:
    """The error answers an operation documents. Every key-authenticated call may get 400 (any parameter with a
    NUL character or an unpaired surrogate), 401, 429 (with Retry-After) and 503 (the database connection lost,
    with Retry-After)."""
    return {code: ERRORS[code] for code in sorted({400, 401, 429, 503, *codes})}


class ApiKeySchema(OpenApiAuthenticationExtension):
    """The key in either form the header takes: `ApiKey` (`Authorization: Api-Key <key>`) or `Bearer` (an `http`
    bearer scheme, which generated clients fill in as `Authorization: Bearer <key>`); either one is enough."""

    target_class = "integrations.api.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "Bearer"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # one or the other, not both

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Authorization: Api-Key kl_live_…` (sandbox keys start with `kl_test_`)",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer kl_live_…`: the same key as with `Api-Key`",
            },
        ]


def order_links(*operation_ids: str) -> dict:
    """OpenAPI links from an answer that is an order (`OrderOut`) to the operations on that order, by its `id`:
    generated clients and stateful tests (schemathesis) follow them."""
    return {
        operation_id: {
            "operationId": operation_id,
            "parameters": {"order_id": "$response.body#/id"},
            "description": "The order just answered, by its `id`",
        }
        for operation_id in operation_ids
    }


class PartnerApiSchema(AutoSchema):
    """Every key-authenticated operation declares `Retry-After` on its 429 and 503 (`errors`), and the OpenAPI
    links of its view's `response_links` ({method: {status: links}})."""

    def get_override_parameters(self):
        return [*super().get_override_parameters(), RETRY_AFTER]

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        links = getattr(self.view, "response_links", {}).get(self.method, {})
        for status_code, response_links in links.items():
            operation["responses"][str(status_code)]["links"] = response_links
        return operation


class HasPermission(permissions.BasePermission):
    def has_permission(self, request, view):
        if not hasattr(view, request.method.lower()):
            return True  # DRF answers 405
        permission = view.permissions_by_method.get(request.method)
        return permission is not None and access.can(request.user, permission)


class PartnerApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [permissions.IsAuthenticated, HasPermission]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [SafeJSONParser]
    permissions_by_method: dict[str, str] = {}
    schema = PartnerApiSchema()

    def initial(self, request, *args, **kwargs):
        translation.activate("en")  # API messages are English; the cabinet speaks Russian
        super().initial(request, *args, **kwargs)

    def products(self):
        """The key's catalogue: a sandbox key's own products, or the live ones (never the other mode's)."""
        actor = self.request.user
        return access.scoped(actor, Product.objects.filter(is_test=actor.is_test))

    def page_size(self) -> int:
        """`page_size` from 1 to MAX_PAGE_SIZE (PAGE_SIZE when absent); any other value is a 400 naming it, never
        silently clamped to something the partner did not ask for."""
        raw = self.request.query_params.get("page_size")
        if raw is None or not raw.strip():
            return PAGE_SIZE
        size = parse_id(raw)  # digits only and short: "-1", "1e3", 5 000 digits are no number of rows
        if size is None or not 1 <= size <= MAX_PAGE_SIZE:
            message = _("page_size must be a whole number from 1 to %(max)s.") % {"max": MAX_PAGE_SIZE}
            raise ApplicationError(message, code="validation_error", extra={"page_size": [message]})
        return size

    def query(self, filterset_class, queryset=None):
        """The list's query parameters checked by its FilterSet (`filters`): a bad one is a 400 `validation_error`
        naming each bad parameter, its first reason as the message, like `page_size`."""
        filterset = filterset_class(
            filters.joined_lists(filterset_class, self.request.query_params),
            queryset=queryset,
            request=self.request,
        )
        if not filterset.is_valid():
            details = {
                name: [str(message) for message in messages] for name, messages in filterset.errors.items()
            }
            raise ApplicationError(next(iter(details.values()))[0], code="validation_error", extra=details)
        return filterset

    def orders(self):
        actor = self.request.user
        return access.scoped(actor, Order.objects.filter(is_test=actor.is_test))

    def order_or_404(self, order_id: int) -> Order:
        return access.get_scoped_or_404(
            self.request.user,
            Order.objects.filter(is_test=self.request.user.is_test)
            .select_related("city")
            .prefetch_related(
                Prefetch("items", queryset=OrderItem.objects.select_related("product").order_by("id")),
                Prefetch("phones", queryset=OrderPhone.objects.only("id", "order_id", "masked", "position")),
            ),
            pk=order_id,
        )


def _bulk_payload(results) -> dict:
    rows = [
        {
            "index": r.index,
            "external_id": r.external_id,
            "result": r.status,
            "id": r.order.pk if r.order else None,
            **({"errors": r.errors} if r.errors else {}),
        }
        for r in results
    ]
    return {
        "created": sum(1 for r in results if r.status == "created"),
        "existing": sum(1 for r in results if r.status == "exists"),
        "failed": sum(1 for r in results if r.status == "error"),
        "results": rows,
    }


def _detail(order_id) -> dict:
    return representation.order_out_by_id(order_id)


class OrderListCreateApi(PartnerApi):
    permissions_by_method = {"GET": "orders.view", "POST": "orders.create"}
    response_links = {"POST": {201: order_links("orders_retrieve", "orders_history", "orders_cancel")}}

    @extend_schema(
        operation_id="orders_list",
        summary="List orders",
        parameters=[
            *filters.parameters(filters.OrderFilter),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page"),
            PAGE_SIZE_PARAMETER,
        ],
        responses={
            200: inline_serializer(
                "OrderPage",
                {
                    "results": s.OrderOutSerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **errors(400),
        },
    )
    @reads_from_replica
    def get(self, request):
        params = request.query_params
        found = self.query(filters.OrderFilter, self.orders())
        queryset = found.qs
        ordering = (
            ["updated_at", "id"] if found.form.cleaned_data["updated_since"] else ["-created_at", "-id"]
        )
        size = self.page_size()
        queryset = queryset.select_related("city").only(*representation.ORDER_COLUMNS)
        try:
            page = keyset_paginate(
                queryset, ordering=ordering, cursor=params.get("cursor") or None, page_size=size
            )
        except InvalidCursor:
            raise ApplicationError(_("The cursor is not valid; start again without it.")) from None
        # the page's items and phones in two queries of plain values (`representation`: the serializer's bytes)
        return Response({"results": representation.orders_out(page.items), "next_cursor": page.next_cursor})

    @extend_schema(
        operation_id="orders_create",
        summary="Create one order",
        request=s.OrderInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(201, 409)],
        responses={
            201: s.OrderOutSerializer,
            409: OpenApiResponse(
                s.OrderExistsErrorSerializer,
                f"`order_exists`: an order with this external_id exists (`details.order` is it); or {IN_FLIGHT}",
            ),
            422: REUSED,
            **errors(*BODY, 403),
        },
    )
    @idempotent
    def post(self, request):
        actor = request.user
        if not isinstance(request.data, dict):
            raise ApplicationError(_("Send one order as a JSON object."))
        result = orders_create_many(
            partner=actor.partner,
            rows=[request.data],
            actor=actor,
            source=OrderSource.SANDBOX if actor.is_test else OrderSource.API,
            is_test=actor.is_test,
        )[0]
        if result.status == "error":
            return Response(
                {
                    "error": {
                        "code": "validation_error",
                        "message": _("The order has invalid fields."),
                        "details": result.errors,
                    }
                },
                status=400,
            )
        if result.status == "exists":
            existing = result.order
            return Response(
                {
                    "error": {
                        "code": "order_exists",
                        "message": _("An order with this external_id exists already."),
                        "details": {"id": existing.pk, "order": _detail(existing.pk)},
                    }
                },
                status=409,
            )
        # the answer from what was just written, not read back (`representation`: the same bytes)
        return Response(representation.created_order_out(result), status=status.HTTP_201_CREATED)


class OrderBulkCreateApi(PartnerApi):
    permissions_by_method = {"POST": "orders.create"}
    throttle_classes = [ApiKeyBulkRateThrottle]

    @extend_schema(
        operation_id="orders_bulk_create",
        summary=f"Create up to {MAX_BULK} orders",
        request=s.BulkOrdersInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(200)],
        responses={
            200: s.BulkResponseSerializer,
            409: OpenApiResponse(s.ErrorSerializer, IN_FLIGHT[0].upper() + IN_FLIGHT[1:]),
            422: REUSED,
            **errors(*BODY, 403),
        },
        description="The valid orders are kept even when some fail; `results` says what became of each.",
    )
    @idempotent
    def post(self, request):
        actor = request.user
        rows = request.data.get("orders") if isinstance(request.data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise ApplicationError(_('Send {"orders": [ … ]} with at least one order.'))
        if len(rows) > MAX_BULK:
            raise ApplicationError(
                ngettext("At most %(count)s order per call.", "At most %(count)s orders per call.", MAX_BULK)
                % {"count": MAX_BULK},
                extra={"orders": len(rows)},
            )
        results = orders_create_many(
            partner=actor.partner,
            rows=rows,
            actor=actor,
            source=OrderSource.SANDBOX if actor.is_test else OrderSource.API,
            is_test=actor.is_test,
        )
        return Response(_bulk_payload(results))


class OrderDetailApi(PartnerApi):
    permissions_by_method = {"GET": "orders.view"}

    @extend_schema(
        operation_id="orders_retrieve",
        summary="One order",
        responses={200: s.OrderOutSerializer, **errors(404)},
    )
    def get(self, request, order_id: int):
        return Response(s.OrderOutSerializer(self.order_or_404(order_id)).data)


class OrderHistoryApi(PartnerApi):
    permissions_by_method = {"GET": "orders.view"}

    @extend_schema(
        operation_id="orders_history",
        summary="The order's history, oldest first: every status change and every change of its data",
        description="A change of the order's sum, address, goods or dates after you sent it is a row with "
        "`action` `amend`, the status it happened in as both `from_status` and `to_status`, and `changes`.",
        responses={
            200: s.HistoryOutSerializer(many=True),
            **errors(404),
        },
    )
    def get(self, request, order_id: int):
        order = self.order_or_404(order_id)
        rows = [
            {
                "id": row.id,
                "at": row.at,
                "action": row.action,
                "from_status": row.from_status,
                "to_status": row.to_status,
                "reason": row.shown_reason,  # a reason the system wrote: in the request's language
                "source": row.source,
                "actor_label": row.actor_label,
                "changes": {},
            }
            for row in OrderHistory.objects.filter(order=order)
        ] + [
            {
                "id": change.id,
                "at": change.at,
                "action": "amend",
                "from_status": change.status,
                "to_status": change.status,
                "reason": change.shown_reason,
                "source": change.source,
                "actor_label": change.actor_label,
                "changes": change.changes,
            }
            for change in OrderAmendment.objects.filter(order=order)
        ]
        # both kinds of row take their ids from one sequence: rows of one instant keep the order they were written in
        rows.sort(key=lambda row: (row["at"], row["id"]))
        return Response(s.HistoryOutSerializer(rows, many=True).data)


class OrderCancelApi(PartnerApi):
    permissions_by_method = {"POST": "orders.create"}
    response_links = {"POST": {200: order_links("orders_retrieve", "orders_history")}}

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order that is still «на отправку»",
        request=s.CancelInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(200, 409)],
        responses={
            200: s.OrderOutSerializer,
            409: OpenApiResponse(
                s.NotAllowedErrorSerializer,
                f"`not_allowed`: the order is already in work (`details.status`); or {IN_FLIGHT}",
            ),
            422: REUSED,
            **errors(*BODY, 403, 404),
        },
    )
    @idempotent
    def post(self, request, order_id: int):
        order = self.order_or_404(order_id)
        reason = request.data.get("reason", "") if isinstance(request.data, dict) else ""
        try:
            order_services.order_cancel(
                order=order,
                actor=request.user,
                source=OrderSource.SANDBOX if order.is_test else OrderSource.API,
                reason=str(reason)[:1000],
            )
        except workflow.TransitionError as exc:
            return Response(
                {
                    "error": {
                        "code": "not_allowed",
                        "message": exc.message,
                        "details": {"status": order.status},
                    }
                },
                status=409,
            )
        return Response(_detail(order.pk))


class StatusGraphApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="statuses",
        summary="The status graph: names, allowed moves, final statuses",
        responses={200: s.StatusGraphSerializer},
        auth=[],
    )
    def get(self, request):
        edges = workflow.graph()

        def names(value):
            with translation.override("ru"):
                ru = str(value)
            with translation.override("en"):
                en = str(value)
            return ru, en

        statuses = []
        for code, label in OrderStatus.choices:
            ru, en = names(label)
            statuses.append(
                {
                    "code": code,
                    "name_ru": ru,
                    "name_en": en,
                    "is_final": code in FINAL_STATUSES,
                    "next": edges[code],
                }
            )
        actions = []
        for transition in workflow.TRANSITIONS.values():
            ru, en = names(transition.label)
            actions.append(
                {
                    "action": transition.action,
                    "name_ru": ru,
                    "name_en": en,
                    "from_statuses": sorted(transition.sources),
                    "to_status": transition.target,
                }
            )
        return Response({"statuses": statuses, "actions": actions})


class ProductListCreateApi(PartnerApi):
    permissions_by_method = {"GET": "products.view", "POST": "products.manage"}

    @extend_schema(
        operation_id="products_list",
        summary="Your products",
        description="With a sandbox key: the sandbox's own catalogue, apart from the live one.",
        parameters=filters.parameters(filters.ProductFilter),
        responses={200: s.ProductSerializer(many=True), **errors()},
    )
    @reads_from_replica
    def get(self, request):
        products = self.query(filters.ProductFilter, self.products().order_by("sku")).qs
        return Response(s.ProductSerializer(products[:5000], many=True).data)

    @extend_schema(
        operation_id="products_create",
        summary="Add a product",
        description="With a sandbox key the product goes into the sandbox's own catalogue (test orders name its "
        "SKUs); the live catalogue never changes through a sandbox key.",
        request=s.ProductSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(201, 409)],
        responses={
            201: s.ProductSerializer,
            409: OpenApiResponse(s.ErrorSerializer, f"`conflict`: the SKU exists; or {IN_FLIGHT}"),
            422: REUSED,
            **errors(*BODY, 403),
        },
    )
    @idempotent
    def post(self, request):
        serializer = s.ProductSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        product = product_create(
            actor=request.user,
            partner=request.user.partner,
            is_test=request.user.is_test,
            **serializer.validated_data,
        )
        return Response(s.ProductSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(PartnerApi):
    permissions_by_method = {"GET": "products.view", "PATCH": "products.manage", "PUT": "products.manage"}

    def _product(self, product_id):
        return access.get_scoped_or_404(self.request.user, self.products(), pk=product_id)

    @extend_schema(operation_id="products_retrieve", responses={200: s.ProductSerializer, **errors(404)})
    def get(self, request, product_id: int):
        return Response(s.ProductSerializer(self._product(product_id)).data)

    @extend_schema(
        operation_id="products_update",
        request=s.ProductSerializer,
        responses={
            200: s.ProductSerializer,
            409: OpenApiResponse(s.ErrorSerializer, "Another product has this SKU"),
            **errors(*BODY, 403, 404),
        },
    )
    def patch(self, request, product_id: int):
        product = self._product(product_id)
        serializer = s.ProductSerializer(product, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        product = product_update(actor=request.user, product=product, **serializer.validated_data)
        return Response(s.ProductSerializer(product).data)

    @extend_schema(
        operation_id="products_replace",
        request=s.ProductSerializer,
        responses={
            200: s.ProductSerializer,
            409: OpenApiResponse(s.ErrorSerializer, "Another product has this SKU"),
            **errors(*BODY, 403, 404),
        },
    )
    def put(self, request, product_id: int):
        product = self._product(product_id)
        serializer = s.ProductSerializer(product, data=request.data)
        serializer.is_valid(raise_exception=True)
        product = product_update(actor=request.user, product=product, **serializer.validated_data)
        return Response(s.ProductSerializer(product).data)


class SandboxAdvanceApi(PartnerApi):
    permissions_by_method = {"POST": "orders.create"}

    @extend_schema(
        operation_id="sandbox_orders_advance",
        summary="Move a test order through the workflow, or call its customer (sandbox keys only)",
        request=s.AdvanceInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(200, 409)],
        responses={
            200: s.OrderOutSerializer,
            409: OpenApiResponse(
                s.NotAllowedErrorSerializer,
                f"`not_allowed`: not possible from the order's status (`details`); or {IN_FLIGHT}",
            ),
            422: REUSED,
            **errors(*BODY, 403, 404),
        },
        description="Without `action`, takes the natural next step (to send → sent → calling → delivery agreed → "
        "registry → courier → paid). Name an action to take another branch (`refuse`, "
        "`return_to_calling`, `ship_by_post`, `post_returned`, …), or `call` with an `outcome` (`no_answer`, "
        "`agreed`, `refused`, …) while the order is being called: your sandbox webhooks get `call.attempted` "
        "(and what the outcome moves). Webhooks fire as in live mode, to your sandbox endpoints only.",
    )
    @idempotent
    def post(self, request, order_id: int):
        if not request.user.is_test:
            return Response(
                {"error": {"code": "forbidden", "message": _("Only sandbox (kl_test_) keys can do this.")}},
                status=403,
            )
        order = self.order_or_404(order_id)
        serializer = s.AdvanceInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            sandbox_advance(actor=request.user, order=order, **serializer.validated_data)
        except workflow.TransitionError as exc:
            if exc.code == "invalid" and exc.extra.get("field"):  # a value the move cannot take (a past date)
                field = exc.extra["field"]
                return Response(
                    error_body(
                        400,
                        _("The request has invalid fields."),
                        code="validation_error",
                        details={field: [exc.message]},
                    ),
                    status=400,
                )
            return Response(
                {
                    "error": {
                        "code": "not_allowed",
                        "message": exc.message,
                        "details": {
                            "status": order.status,
                            "action": serializer.validated_data.get("action") or NEXT_STEP.get(order.status),
                        },
                    }
                },
                status=409,
            )
        return Response(_detail(order.pk))


class StockApi(PartnerApi):
    permissions_by_method = {"GET": "stock.view"}

    @extend_schema(
        operation_id="stock_list",
        summary="Your stock by product and city",
        description="With a sandbox key: always empty (the sandbox holds no goods; live stock is never shown).",
        parameters=filters.parameters(filters.StockFilter),
        responses={
            200: s.StockRowSerializer(many=True),
            **errors(400),
        },
    )
    @reads_from_replica
    def get(self, request):
        wanted = self.query(filters.StockFilter).form.cleaned_data
        if request.user.is_test:
            return Response([])  # the sandbox's products are never stocked
        rows, _cities = stock_rows(
            request.user,
            city_id=wanted["city"].pk if wanted["city"] else None,
            sku=wanted["product"] or None,
        )
        data = [
            {
                "sku": row.sku,
                "name": row.name,
                "country": country,
                "city": city_name,
                "free": cell.free,
                "reserved": cell.reserved,
                "in_transit": cell.in_transit,
                "with_courier": cell.with_courier,
                "in_post": cell.in_post,
            }
            for row in rows
            for (country, city_name), cell in row.cities.items()
        ]
        return Response(data)


class StockMovementsApi(PartnerApi):
    permissions_by_method = {"GET": "stock.view"}

    @extend_schema(
        operation_id="stock_movements",
        summary="Every movement of your goods, newest first",
        description="With a sandbox key: always an empty page.",
        parameters=[
            *filters.parameters(filters.StockMoveFilter),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            PAGE_SIZE_PARAMETER,
        ],
        responses={
            200: inline_serializer(
                "StockMovePage",
                {
                    "results": s.StockMoveSerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **errors(400),
        },
    )
    @reads_from_replica
    def get(self, request):
        moves = access.scoped(
            request.user,
            StockMove.objects.select_related("product", "from_warehouse__city", "to_warehouse__city"),
        )
        if request.user.is_test:
            moves = moves.none()  # the sandbox's products never move; the parameters are still checked
        moves = self.query(filters.StockMoveFilter, moves).qs
        size = self.page_size()
        try:
            page = keyset_paginate(
                moves, ordering=["-at", "-id"], cursor=request.query_params.get("cursor"), page_size=size
            )
        except ValueError:  # InvalidCursor, or a cursor's value of the wrong type
            raise ApplicationError(_("The cursor is not valid; start again without it.")) from None
        return Response(
            {"results": s.StockMoveSerializer(page.items, many=True).data, "next_cursor": page.next_cursor}
        )


class BalanceApi(PartnerApi):
    permissions_by_method = {"GET": "billing.view"}

    @extend_schema(
        operation_id="balance",
        summary="Your balance: what we owe you, payouts in progress, this month's buyout and charges",
        description="With a sandbox key: one row in your currency with every figure 0 (test orders are never "
        "billed; live figures are never shown).",
        responses={200: s.BalanceSerializer(many=True), **errors()},
    )
    @reads_from_replica
    def get(self, request):
        partner = access.get_scoped_or_404(request.user, Partner.objects.all(), pk=request.user.partner_id)
        if request.user.is_test:
            zero = Decimal("0.00")
            sandbox = {
                "currency": partner.currency,
                "balance": zero,
                "payouts_in_progress": zero,
                "buyout_this_month": zero,
                "charged_this_month": zero,
            }
            return Response(s.BalanceSerializer([sandbox], many=True).data)
        rows = [
            {
                "currency": row["currency"],
                "balance": row["balance"],
                "payouts_in_progress": row["pending"],
                "buyout_this_month": row["collected_month"],
                "charged_this_month": row["charged_month"],
            }
            for row in balance_summary(partner)
        ]
        return Response(s.BalanceSerializer(rows, many=True).data)


class BalanceEntriesApi(PartnerApi):
    permissions_by_method = {"GET": "billing.view"}

    @extend_schema(
        operation_id="balance_entries",
        summary="Every entry on your balance, newest first (cursor pages)",
        description="With a sandbox key: always an empty page.",
        parameters=[
            *filters.parameters(filters.BalanceEntryFilter),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            PAGE_SIZE_PARAMETER,
        ],
        responses={
            200: inline_serializer(
                "BalanceEntryPage",
                {
                    "results": s.BalanceEntrySerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **errors(400),
        },
    )
    @reads_from_replica
    def get(self, request):
        entries = self.query(
            filters.BalanceEntryFilter, access.scoped(request.user, Entry.objects.all())
        ).qs.select_related("order", "city", "posting__run")
        if request.user.is_test:
            entries = entries.none()  # test orders are never billed; the parameters are still checked
        size = self.page_size()
        try:
            page = keyset_paginate(
                entries, ordering=["-at", "-id"], cursor=request.query_params.get("cursor"), page_size=size
            )
        except ValueError:  # InvalidCursor, or a cursor's value of the wrong type
            raise ApplicationError(_("The cursor is not valid; start again without it.")) from None
        rows = []
        for entry in page.items:
            entry.amount = -entry.amount  # for the partner: credits positive
            rows.append(entry)
        return Response(
            {"results": s.BalanceEntrySerializer(rows, many=True).data, "next_cursor": page.next_cursor}
        )


# -- claims (претензии) --------------------------------------------------------------------------------------------


def _claim_out(claim: Claim) -> Claim:
    """What the partner reads of its claim: our answer once given, the compensation once approved and posted."""
    claim.shown_resolution = "" if claim.is_open else claim.resolution
    claim.shown_compensation = claim.compensation if claim.money == Claim.Money.APPROVED else None
    return claim


def _claim_detail(claim_id: int) -> dict:
    claim = (
        Claim.objects.select_related("order")
        .prefetch_related(
            Prefetch(
                "files",
                queryset=ClaimFile.objects.filter(message__isnull=True).order_by("uploaded_at", "id"),
                to_attr="claim_files",
            ),
            Prefetch(
                "messages",
                queryset=ClaimMessage.objects.prefetch_related(
                    Prefetch("files", queryset=ClaimFile.objects.order_by("uploaded_at", "id"))
                ).order_by("at", "id"),
                to_attr="discussion",
            ),
        )
        .get(pk=claim_id)
    )
    return s.ClaimDetailSerializer(_claim_out(claim)).data


class ClaimApi(PartnerApi):
    def claim_or_404(self, claim_id: int) -> Claim:
        return access.get_scoped_or_404(
            self.request.user, claim_services.claims_visible(self.request.user), pk=claim_id
        )


class ClaimListCreateApi(ClaimApi):
    permissions_by_method = {"GET": "claims.view", "POST": "claims.file"}

    @extend_schema(
        operation_id="claims_list",
        summary="Your claims, newest first",
        description="With a sandbox key: always an empty page (claims are filed on live orders only).",
        parameters=[
            *filters.parameters(filters.ClaimFilter),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of the previous page"),
            PAGE_SIZE_PARAMETER,
        ],
        responses={
            200: inline_serializer(
                "ClaimPage",
                {
                    "results": s.ClaimOutSerializer(many=True),
                    "next_cursor": serializers.CharField(allow_null=True),
                },
            ),
            **errors(400),
        },
    )
    @reads_from_replica
    def get(self, request):
        claims = self.query(filters.ClaimFilter, claim_services.claims_visible(request.user)).qs
        size = self.page_size()
        try:
            page = keyset_paginate(
                claims,
                ordering=["-filed_at", "-id"],
                cursor=request.query_params.get("cursor"),
                page_size=size,
            )
        except ValueError:  # InvalidCursor, or a cursor's value of the wrong type
            raise ApplicationError(_("The cursor is not valid; start again without it.")) from None
        rows = [_claim_out(claim) for claim in page.items]
        return Response(
            {"results": s.ClaimOutSerializer(rows, many=True).data, "next_cursor": page.next_cursor}
        )

    @extend_schema(
        operation_id="claims_create",
        summary="File a claim on an order",
        description="We answer within 10 working days (`due_on`); photos and documents follow with "
        "`POST /claims/{id}/files/`. Live keys only.",
        request=s.ClaimInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(201, 409)],
        responses={
            201: s.ClaimDetailSerializer,
            409: OpenApiResponse(
                s.ErrorSerializer,
                f"`conflict`: a claim of this kind on this order is still open (`details.id` is it); or {IN_FLIGHT}",
            ),
            422: REUSED,
            **errors(*BODY, 403),
        },
    )
    @idempotent
    def post(self, request):
        if request.user.is_test:
            return Response(
                error_body(
                    403, _("Claims are filed with a live (kl_live_) key: test orders are never claimed.")
                ),
                status=403,
            )
        serializer = s.ClaimInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = self.orders().filter(pk=data["order_id"]).first()
        if order is None:
            message = _("No order of yours has this number.")
            raise ApplicationError(message, code="validation_error", extra={"order_id": [message]})
        claim = claim_services.claim_file(
            actor=request.user, order=order, kind=data["kind"], text=data["text"]
        )
        return Response(_claim_detail(claim.pk), status=status.HTTP_201_CREATED)


class ClaimDetailApi(ClaimApi):
    permissions_by_method = {"GET": "claims.view"}

    @extend_schema(
        operation_id="claims_retrieve",
        summary="One claim with its files and discussion",
        responses={200: s.ClaimDetailSerializer, **errors(404)},
    )
    def get(self, request, claim_id: int):
        return Response(_claim_detail(self.claim_or_404(claim_id).pk))


class ClaimMessageCreateApi(ClaimApi):
    permissions_by_method = {"POST": "claims.file"}

    @extend_schema(
        operation_id="claims_messages_create",
        summary="Write in a claim's discussion",
        description="Your answer to our question brings a claim «waiting for the partner» back into work.",
        request=s.ClaimMessageInSerializer,
        parameters=[IDEMPOTENCY_KEY, replayed(201, 409)],
        responses={
            201: s.ClaimMessageOutSerializer,
            409: OpenApiResponse(
                s.ErrorSerializer, f"`not_allowed`: the claim is resolved or rejected; or {IN_FLIGHT}"
            ),
            422: REUSED,
            **errors(*BODY, 403, 404),
        },
    )
    @idempotent
    def post(self, request, claim_id: int):
        claim = self.claim_or_404(claim_id)
        serializer = s.ClaimMessageInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = claim_services.claim_post(
            actor=request.user, claim=claim, text=serializer.validated_data["text"]
        )
        return Response(s.ClaimMessageOutSerializer(message).data, status=status.HTTP_201_CREATED)


class ClaimFileCreateApi(ClaimApi):
    permissions_by_method = {"POST": "claims.file"}
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="claims_files_create",
        summary="Attach a photo or a document to a claim",
        description="`multipart/form-data` with one `file`: a JPEG, PNG or WEBP photo or a PDF, at most 10 MB (told by "
        "its content, not its name).",
        request={"multipart/form-data": s.ClaimFileInSerializer},
        responses={
            201: s.ClaimFileOutSerializer,
            409: OpenApiResponse(s.ErrorSerializer, "`not_allowed`: the claim is resolved or rejected"),
            **errors(*BODY, 403, 404),
        },
    )
    def post(self, request, claim_id: int):
        claim = self.claim_or_404(claim_id)
        upload = request.FILES.get("file")
        if upload is None:
            message = _("Send the photo or the document as the multipart field `file`.")
            raise ApplicationError(message, code="validation_error", extra={"file": [message]})
        try:
            message = claim_services.claim_post(actor=request.user, claim=claim, text="", files=[upload])
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "files" in exc.error_dict:
                raise ValidationError({"file": exc.error_dict["files"]}) from None
            raise
        return Response(s.ClaimFileOutSerializer(message.files.get()).data, status=status.HTTP_201_CREATED)
