"""Every URL of the project and an object of partner A for each of its arguments, shared by the isolation and
role-matrix tests.

    for route in routes():            # every pattern, with its name and the names of its arguments
        url = fill(route, world)      # the pattern with partner A's objects in its arguments (KeyError if none)

`world` is the demo data set (`manage.py seed_demo`: «Алем Трейд» is partner A, with orders in every status,
calls, registries, courier days, transfers, payouts, runs…), the few objects the demo does not make, and
partner B: its administrator, an API key and a product of its own. It is built once per test module inside a
transaction that is rolled back afterwards (`world_fixture`)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

ARGUMENT = re.compile(r"<(?:\w+:)?(\w+)>")

# URL argument → the key of partner A's object in `world.objects` that fills it
ARGUMENT_OBJECTS = {
    "order_id": "order",
    "user_id": "team_member",
    "notice_id": "notice",
    "filter_id": "saved_filter",
    "partner_id": "partner",
    "key_id": "api_key",
    "endpoint_id": "webhook_endpoint",
    "delivery_id": "webhook_delivery",
    "import_id": "excel_import",
    "connector_id": "connector",
    "product_id": "product",
    "receipt_id": "receipt",
    "transfer_id": "transfer",
    "attempt_id": "attempt",
    "registry_id": "registry",
    "section_id": "script_section",
    "call_id": "inbound_call",
    "escalation_id": "escalation",
    "day_id": "courier_day",
    "discrepancy_id": "discrepancy",
    "stop_id": "stop",
    "shipment_id": "post_shipment",
    "payout_id": "payout",
    "run_id": "billing_run",
    "export_id": "export_job",
    "claim_id": "claim",
    "file_id": "claim_file",
    "document_id": "monthly_document",
    "report_id": "monthly_report",
    "follow_up_id": "survey_follow_up",
    "transport_id": "transport_request",
}

# Patterns whose arguments name no tenant object, with the reason they are not filled
EXEMPT_ARGUMENTS = {
    "accounts/reset/<uidb64>/<token>/": "Django's password-reset link: a signed token for one user, no partner's row",
    "t/<str:token>/": "the link in a customer's SMS: a signed token for one order, public by design "
    "(tests/delivery/test_tracking_links.py: it opens only its order, and shows nothing personal)",
}

# What partner A's pages show and partner B must never see
A_PARTNER = "Алем Трейд"
A_CUSTOMER = "Зульфия Секретова"
A_EXTERNAL_ID = "A-SECRET-0001"
A_PRODUCT = "Секретный самовар А"
A_SKU = "A-SECRET-SKU"


@dataclass(frozen=True)
class Route:
    route: str  # "orders/<int:order_id>/"
    name: str  # "orders:detail"
    arguments: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/v1/")


def routes(patterns=None, prefix: str = "", namespace: str = ""):
    """Every URL pattern of the project (Django's admin apart: it has its own tests below), once each."""
    seen = set()
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue
            inner = namespace + (f"{entry.namespace}:" if entry.namespace else "")
            for found in routes(entry.url_patterns, route, inner):
                if found.route not in seen:
                    seen.add(found.route)
                    yield found
        elif isinstance(entry, URLPattern) and route not in seen:
            seen.add(route)
            yield Route(route, namespace + (entry.name or ""), tuple(ARGUMENT.findall(route)))


def object_for(argument: str, path: str, world: World):
    """Partner A's object for an argument of a path (KeyError: none); the sandbox works on test orders only."""
    if argument == "order_id" and "/sandbox/" in "/" + path:
        return world.objects["test_order"]
    return world.objects[ARGUMENT_OBJECTS[argument]]


def fill(route: Route, world: World) -> str:
    """The route with partner A's objects in its arguments; KeyError names an argument nobody can fill."""
    url = route.route
    for argument in route.arguments:
        obj = object_for(argument, route.route, world)
        url = re.sub(rf"<(?:\w+:)?{argument}>", str(obj.pk), url, count=1)
    return "/" + url


@dataclass
class World:
    objects: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)  # "owner_a", "admin", "user_b", "head_b", … and the demo logins
    api_key_a: str = ""
    api_key_b: str = ""
    api_key_b_test: str = ""
    api_key_a_test: str = ""  # the demo's sandbox key, made for this installation
    markers: tuple[str, ...] = ()

    def client(self, who: str) -> Client:
        from tests.second_factor import sign_in

        return sign_in(self.users[who])

    def api(self, key: str) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Api-Key {key}")


def build_world() -> World:

    from importlib import import_module

    from django.utils import timezone, translation

    from bench.run import round_the_clock_calendar
    from billing import documents, runs
    from billing.models import Claim, ClaimFile, Payout
    from billing.tariffs import load_default_tariffs
    from callcenter import services as calls
    from callcenter.models import (
        CallAttempt,
        DeliveryRegistry,
        Escalation,
        Outcome,
        Script,
        ScriptSection,
    )
    from delivery import services as delivery
    from delivery.models import CashDiscrepancy, CourierDay, DeliveryStop, PostShipment
    from integrations import excel, webhooks
    from integrations.api_keys import api_key_create
    from integrations.models import ApiKey, PullConnector, WebhookDelivery
    from ketlogistic.core.models import Partner, StaffScope, User
    from ketlogistic.core.roles import Role
    from ketlogistic.core.services import notice_post
    from orders.chat import chat_post
    from orders.intake import orders_create_many
    from orders.services import discussion_post, order_send, saved_filter_save
    from setup.demo import DEMO_STEPS
    from tests.factories import PartnerFactory, ProductFactory, UserFactory, make_order, order_row
    from warehouses.models import Receipt, Transfer, TransportRequest

    # the demo data set without its five weeks of billing history (slow): one run and one payout are made below
    context: dict = {}
    with translation.override("ru"):
        for step in DEMO_STEPS:
            if step != "billing.demo":
                context.update(import_module(step).seed(context=context) or {})
    load_default_tariffs()
    run = runs.run_for_week(week_start=runs.last_closed_week())
    runs.run_compute(run=run)
    users = {u.username: u for u in User.objects.all()}
    partner = Partner.objects.get(name=A_PARTNER)
    owner = users["partner_kz"]
    product = ProductFactory(partner=partner, sku=A_SKU, name=A_PRODUCT)
    order = make_order(
        partner,
        product=product,
        customer_name=A_CUSTOMER,
        external_id=A_EXTERNAL_ID,
        phone="+7 701 999 88 77",
    )
    order_send(order=order, actor=users["head"])
    calls.call_dial(actor=users["logist"], order=order)
    calls.call_outcome(actor=users["logist"], order=order, outcome=Outcome.NO_ANSWER)
    discussion_post(actor=users["logist"], order=order, text="Секретный вопрос А")
    chat_post(actor=owner, partner=partner, text=f"Секретный чат А о заказе {A_EXTERNAL_ID}")
    order.refresh_from_db()

    endpoint, _secret = webhooks.endpoint_create(
        actor=owner, url="https://hooks.example.kz/ketlogistic", events=["order.status_changed"]
    )
    webhooks.endpoint_send_test(actor=owner, endpoint=endpoint)
    content = excel.template_workbook()
    almaty_day = (
        CourierDay.objects.filter(date__isnull=False, stops__order__partner=partner).distinct().first()
    )
    if not CashDiscrepancy.objects.filter(day=almaty_day).exists():
        delivery.cash_handover(actor=users["courier_admin"], day=almaty_day, counted="1")
    objects = {
        "partner": partner,
        "order": order,
        "product": product,
        "team_member": users["partner_kz_staff"],
        "notice": notice_post(partner=partner, key="isolation", text="Секретное уведомление А"),
        "saved_filter": saved_filter_save(user=owner, name="Секретный фильтр А", query="status=calling"),
        "api_key": ApiKey.objects.filter(partner=partner).first(),
        "webhook_endpoint": endpoint,
        "webhook_delivery": WebhookDelivery.objects.filter(endpoint=endpoint).first(),
        "excel_import": excel.excel_upload(partner=partner, actor=owner, filename="a.xlsx", content=content),
        "connector": PullConnector.objects.create(
            partner=partner, name="Секретный коннектор А", url="https://crm.example.kz/orders", mapping={}
        ),
        "receipt": Receipt.objects.filter(partner=partner).first(),
        "transfer": Transfer.objects.filter(partner=partner).exclude(receipt_photo="").first(),
        "attempt": CallAttempt.objects.filter(order__partner=partner).exclude(recording="").first(),
        "registry": DeliveryRegistry.objects.filter(warehouse__city__name="Алматы").first(),
        "script_section": ScriptSection.objects.create(
            script=Script.objects.create(partner=partner, name="Скрипт А"),
            partner=partner,
            topic="greeting",
            title="Секция А",
            body="Только для А",
        ),
        "inbound_call": calls.inbound_log(
            actor=users["hotline"], order=order, missed=True, phone="+7 701 999 88 77"
        ),
        "escalation": Escalation.objects.filter(order__partner=partner).first(),
        "courier_day": almaty_day,
        "discrepancy": CashDiscrepancy.objects.filter(day=almaty_day).first(),
        "stop": DeliveryStop.objects.filter(
            order__partner=partner, day=almaty_day, outcome="pending"
        ).first(),
        "post_shipment": PostShipment.objects.filter(partner=partner).first(),
        "payout": Payout.objects.create(
            partner=partner,
            amount="5000",
            currency="KZT",
            method="card",
            details="4400 0000 0000 0000",
            requested_at=timezone.now(),
            requested_by=owner,
        ),
        "billing_run": run,
        "export_job": _prepared_export(owner),
        "claim": Claim.objects.filter(partner=partner).order_by("pk").first(),  # the demo's, with a photo
        "claim_file": ClaimFile.objects.filter(partner=partner).order_by("pk").first(),
        "monthly_document": _monthly_act(partner),
        "monthly_report": documents.report_issue(partner=partner, month=documents.last_closed_month()),
        # the demo's low score of partner A's administrator, followed up by its head of department
        "survey_follow_up": _low_score_follow_up(partner, owner),
        # the demo's transfer between cities A asked for (priced, awaiting A's acceptance)
        "transport_request": TransportRequest.objects.filter(partner=partner).first(),
    }
    ProductFactory(partner=partner, sku=A_SKU, name=A_PRODUCT, is_test=True)  # the sandbox's own catalogue
    [sandbox] = orders_create_many(
        partner=partner,
        rows=[
            order_row(
                external_id="A-SANDBOX-1", customer_name=A_CUSTOMER, items=[{"sku": A_SKU, "quantity": 1}]
            )
        ],
        actor=None,
        source="sandbox",
        is_test=True,
    )
    objects["test_order"] = sandbox.order
    missing = [name for name, obj in objects.items() if obj is None]
    assert not missing, f"the demo data lacks {missing}"

    # partner B: its administrator, a product, an order, a live and a sandbox key; staff who serve B only
    partner_b = PartnerFactory(name="Партнёр Б", country="KZ")
    product_b = ProductFactory(partner=partner_b, sku="B-1", name="Товар Б")
    make_order(partner_b, product=product_b, external_id="B-0001")
    users["user_b"] = UserFactory(role=Role.PARTNER_ADMIN, partner=partner_b, username="owner_b")
    users["head_b"] = UserFactory(role=Role.HEAD_OF_DEPARTMENT, username="head_b")
    StaffScope.objects.create(user=users["head_b"], partner=partner_b, country="KZ")
    users["owner_a"] = owner
    objects["partner_b"] = partner_b
    objects["product_b"] = product_b
    world = World(
        objects=objects,
        users=users,
        api_key_a=api_key_create(partner=partner, name="A live").key,
        api_key_b=api_key_create(partner=partner_b, name="B live").key,
        api_key_b_test=api_key_create(partner=partner_b, name="B sandbox", is_test=True).key,
        api_key_a_test=context["demo_sandbox_key"],
        markers=(A_PARTNER, A_CUSTOMER, A_EXTERNAL_ID, A_PRODUCT, A_SKU, "KZ-TEA-01", "DEMO-KZ-"),
    )
    # the demo is seeded on the usual calendar; from here every hour is a working one, so that the call center's
    # desk and «next customer» run the queue's real pull at any hour the tests run, not an empty one at night
    round_the_clock_calendar()
    return world


def _monthly_act(partner):
    """Partner A's act of services rendered for last month. The world's only weekly run is a draft, so no month is
    ready for the issuing service: the act is written as it writes one (`documents._issue`), with one line."""
    from decimal import Decimal

    from django.utils import timezone

    from billing import documents
    from billing.models import MonthlyDocument

    lines = documents.MonthLines(
        charges=[{"kind": "order_fee", "count": 1, "basis": None, "total": Decimal("2500.00")}]
    )
    with transaction.atomic():  # its number's counter is locked until the document is written
        return documents._issue(
            partner=partner,
            currency=partner.currency,
            kind=MonthlyDocument.Kind.ACT,
            month=documents.last_closed_month(),
            lines=lines,
            now=timezone.now(),
            actor=None,
        )


def _low_score_follow_up(partner, owner):
    """Partner A's administrator rates the demo's survey it has not answered 1: a follow-up for its head."""
    from datetime import timedelta

    from billing import surveys
    from billing.models import Survey

    survey = Survey.objects.filter(partner=partner).exclude(answers__user=owner).order_by("-month").first()
    answer = surveys.survey_answer(
        actor=owner,
        survey=survey,
        score=1,
        comment="Секретная жалоба А",
        now=survey.asked_at + timedelta(hours=1),
    )
    return answer.follow_up


def _prepared_export(owner):
    """Partner A's order list prepared by the worker for its administrator (a large export's file)."""
    from ketlogistic.core import export_jobs
    from orders import exports

    job = exports.order_export_queue(actor=owner, query="")
    return export_jobs.export_job_run(job_id=job.pk, build=exports.order_export_build)


@contextmanager
def rolled_back(django_db_blocker):
    """A transaction around a whole test module, rolled back at its end (the tests inside are savepoints)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
