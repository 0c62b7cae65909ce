"""Property-based fuzzing of the partner API against its own OpenAPI schema (schemathesis 4).

The schema is the one the app serves at /api/v1/schema/; every operation in it is called in-process through
the project's WSGI application (the whole middleware and DRF stack, inside the test's database transaction)
with a real partner API key (a sandbox key for /sandbox/). For every generated request — schemathesis's
examples, coverage (boundary and invalid values of every field, missing and wrong headers) and fuzzing
phases, valid and invalid data:

* no 5xx (`not_a_server_error`);
* the status code is one the schema documents for the operation (`status_code_conformance`);
* the body matches the documented response schema (`response_schema_conformance`);
* the Content-Type is the documented one (`content_type_conformance`).

Half of the valid (positive) cases are aimed at things that exist — the partner's order and product ids,
a known city, SKU and phone — so that the fuzzing gets past "unknown SKU" and "404" into the services.

Bounded and reproducible: a fixed schemathesis seed, `derandomize=True` and no example database,
`MAX_EXAMPLES` per operation in the fuzzing phase (the coverage phase makes its own fixed set of cases).
The per-key rate limits are lifted for the run (one key makes a few hundred requests in a second here);
throttling is proven in tests/integrations/test_api_orders.py::test_throttling_per_key.

Checks not run, and why:

* `negative_data_rejection` / `positive_data_acceptance`: the schema describes request *shapes* for the
  documentation, while the intake (orders/intake.py) is deliberately more lenient — one set of rules for
  Excel, API and connectors reads "12 500", "2", 25.11.2026 — so a schema-invalid body may rightly be accepted,
  and a schema-valid one rightly refused for business reasons (unknown SKU or city, a cancelled order).
  What must hold for every input is no 5xx and a documented answer, which the checks above prove.
* `use_after_free`, `ensure_resource_availability`: the API has no DELETE. The links (create → read, history,
  cancel; cancel → read, history) are followed by the stateful run below with the same checks.
* `ignored_auth`: authentication is proven in tests/integrations/test_api_orders.py::test_authentication_errors
  (the coverage phase still sends requests without and with a broken key, and they must answer 401 as
  documented).
* `max_response_time`: no timed assertions in this suite.
"""

import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.api import throttling
from integrations.api_keys import api_key_create
from orders.intake import orders_create_many
from tests.factories import ProductFactory, make_order, order_row

MAX_EXAMPLES = 12
# The in-process WSGI transport asks for gzip like `requests` does but does not unpack it; the answers are read
# uncompressed (compression itself: tests/core/test_compression.py).
PLAIN = {"Accept-Encoding": "identity"}

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
VALID_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")

schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/?format=json", get_wsgi_application(), config=schemathesis.Config(seed=20261123)
)


@pytest.fixture
def same_connection():
    """As Django's test client does: the app must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, same_connection, partner_a, product_a, monkeypatch):
    """Partner A with something to read and change: two products, a live order, a sandbox order, two keys."""
    monkeypatch.setattr(throttling.ApiKeyRateThrottle, "rate", "100000/min", raising=False)
    monkeypatch.setattr(throttling.ApiKeyBulkRateThrottle, "rate", "100000/min", raising=False)
    second = ProductFactory(partner=partner_a, sku="A-2", name="Утюг А", price=9000)
    live = make_order(partner_a, product=product_a)
    ProductFactory(partner=partner_a, sku="A-1", name="Чайник А", is_test=True)  # the sandbox's own catalogue
    sandbox = orders_create_many(
        partner=partner_a, rows=[order_row(external_id="SBX-1")], actor=None, source="sandbox", is_test=True
    )[0].order
    return {
        "live_key": api_key_create(partner=partner_a, name="fuzz").key,
        "test_key": api_key_create(partner=partner_a, name="fuzz sandbox", is_test=True).key,
        "order_id": live.pk,
        "sandbox_order_id": sandbox.pk,
        "product_id": second.pk,
        "aimed": [0],
    }


def _aim(case, world, *, stateful: bool = False) -> None:
    """A fresh valid Idempotency-Key each time; every other valid case also gets real ids, and orders a fresh
    number and a known city, SKU and phone. In a stateful run every valid order is aimed, and the ids are the
    ones the links carry."""
    world["aimed"][0] += 1
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.fullmatch(key) and len(key) < 240:
        # a fresh valid key each time: the same generated key with another body is rightly a 422 every time,
        # which would hide what the body does; invalid keys are left as generated
        case.headers["Idempotency-Key"] = f"{key}-{world['aimed'][0]}"
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if world["aimed"][0] % 2 and not stateful:
        return
    sandbox = "/sandbox/" in case.operation.path
    for name in ("order_id", "product_id") if not stateful else ():
        if isinstance((case.path_parameters or {}).get(name), int):
            case.path_parameters[name] = world["sandbox_order_id" if sandbox else name]
    if case.operation.path not in ("/api/v1/orders/", "/api/v1/orders/bulk/") or case.method != "POST":
        return
    body = case.body
    orders = body.get("orders") if isinstance(body, dict) and "orders" in body else [body]
    for number, order in enumerate(orders if isinstance(orders, list) else []):
        if not isinstance(order, dict):
            continue
        order.update(
            external_id=f"FUZZ-{world['aimed'][0]}-{number}", city="Алматы", phone="+7 701 123 45 67"
        )
        order.pop("phones", None)
        order.pop("delivery_kind", None)
        items = [item for item in order.get("items") or [] if isinstance(item, dict)] or [{"quantity": 1}]
        order["items"] = [{**item, "sku": "A-1"} for item in items]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_answers_as_documented(case, world):
    _aim(case, world)
    key = world["test_key"] if "/sandbox/" in case.operation.path else world["live_key"]

    case.call_and_validate(headers={"Authorization": f"Api-Key {key}", **PLAIN}, checks=CHECKS)


STATEFUL_STEPS = 8
# 30 walks twice missed the history link in loaded full runs (the walk's choices follow the answers it gets, so
# `derandomize` alone does not fix them); 50 reach every link of a created order with room to spare.
STATEFUL_EXAMPLES = 50
# the links of a created order's answer, each followed with the checks of every call
LINKED = {
    ("GET", "/api/v1/orders/{order_id}/"),
    ("GET", "/api/v1/orders/{order_id}/history/"),
    ("POST", "/api/v1/orders/{order_id}/cancel/"),
}


def test_the_links_hold_statefully(world):
    """schemathesis's stateful run along the schema's OpenAPI links: an order created (201) is read, its history
    read and it is cancelled by the `id` its answer carries, and a cancelled order read again, with the checks of
    every single call. At least one create → read scenario must happen, or the links were never followed."""
    created, followed = set(), set()
    answers: dict[
        tuple[str, str], list[int]
    ] = {}  # every operation's statuses: what the walk met, when it fails

    # the claims' operations carry no links (a claim is filed on an order the partner already has): in a run along
    # the links they would only take its bounded steps from the order's operations
    class Workflow(schema.exclude(path_regex=r"^/api/v1/claims/").as_state_machine()):
        # Each scenario from the same data: its writes rolled back and the same fresh keys and numbers, so that
        # hypothesis, replaying a scenario, gets the same answers (else: FlakyStrategyDefinition).
        def setup(self):
            world["aimed"][0] = 0
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

        def before_call(self, case):
            _aim(case, world, stateful=True)
            if (case.method, case.operation.path) == ("POST", "/api/v1/orders/"):
                # the links start from a created order: a valid one each time, whatever was generated
                case.body = {
                    "external_id": f"LINK-{world['aimed'][0]}",
                    "customer_name": "Айдана",
                    "phone": "+7 701 123 45 67",
                    "city": "Алматы",
                    "address": "пр. Абая, 1",
                    "items": [{"sku": "A-1", "quantity": 1}],
                }

        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Api-Key {world['live_key']}", **PLAIN}}

        def after_call(self, response, case):
            answers.setdefault((case.method, case.operation.path), []).append(response.status_code)
            if (case.method, case.operation.path, response.status_code) == ("POST", "/api/v1/orders/", 201):
                created.add(response.json()["id"])
            elif (case.path_parameters or {}).get("order_id") in created and response.status_code == 200:
                followed.add((case.method, case.operation.path))

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # the walk must follow the links at all: a created order read by the `id` its answer carries
    assert ("GET", "/api/v1/orders/{order_id}/") in followed, (
        f"followed {sorted(followed)}; created {len(created)}; answers {answers}"
    )
    # Which other links a walk takes follows hypothesis' choices, and those follow the answers: in a loaded full run
    # the walk sometimes never chose the history link (a run alone always did). A link the walk did not take is
    # followed here, from an order created through the API, with the same checks.
    headers = {"Authorization": f"Api-Key {world['live_key']}", **PLAIN}
    for method, path in sorted(LINKED - followed):
        made = schema["/api/v1/orders/"]["POST"].Case(
            body={
                "external_id": f"LINK-AFTER-{method}-{path.count('/')}",
                "customer_name": "Айдана",
                "phone": "+7 701 123 45 67",
                "city": "Алматы",
                "address": "пр. Абая, 1",
                "items": [{"sku": "A-1", "quantity": 1}],
            },
            media_type="application/json",
        )
        answer = made.call(headers=headers)
        assert answer.status_code == 201, answer.text
        case = schema[path][method].Case(path_parameters={"order_id": answer.json()["id"]})
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == 200, (method, path, response.status_code, response.text[:300])
