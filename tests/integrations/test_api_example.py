"""The documented CRM example (docs/examples/crm_client.py) works against a live server."""

import importlib.util
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from integrations import webhooks
from integrations.api_keys import api_key_create
from ketlogistic.core.roles import Role
from orders.models import Order
from orders.services import order_send
from tests.factories import PartnerFactory, ProductFactory, UserFactory, put_stock

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "crm_client.py"


def _example():
    spec = importlib.util.spec_from_file_location("crm_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_documented_client_creates_follows_and_cancels(live_server, reference_data):
    partner = PartnerFactory()
    put_stock(ProductFactory(partner=partner, sku="ART-1", price=15000), "Алматы", 5)
    head = UserFactory(role=Role.HEAD_OF_DEPARTMENT, scopes=[{"partner": partner, "country": "KZ"}])
    crm = _example().KetLogistic(live_server.url, api_key_create(partner=partner, name="crm").key)
    order = {
        "external_id": "CRM-10001",
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "city": "Алматы",
        "address": "ул. Абая, 10",
        "items": [{"sku": "ART-1", "quantity": 1}],
    }
    since = timezone.now().isoformat()

    status, created = crm.create_order(order)
    replay_status, replayed = crm.create_order(order)
    bulk = crm.create_orders([{**order, "external_id": f"CRM-{n}"} for n in range(2, 5)])
    order_send(order=Order.objects.get(pk=created["id"]), actor=head)
    changes = list(crm.changed_since(since))
    cancel_status, _body = crm.cancel(created["id"])

    assert (status, replay_status, replayed) == (201, 201, created)
    assert bulk["created"] == 3
    assert [c["id"] for c in changes][-1] == created["id"] and changes[-1]["status"] == "calling"
    assert cancel_status == 409


def test_the_documented_signature_check_accepts_ours():
    body = json.dumps({"id": "evt", "type": "order.created"}).encode()
    secret, at = webhooks.new_secret(), int(time.time())
    headers = {
        "webhook-id": "evt",
        "webhook-timestamp": str(at),
        "webhook-signature": webhooks.signature_header([secret], "evt", at, body),
    }

    assert _example().verify_webhook(secret, headers, body)
    assert not _example().verify_webhook(secret, headers, body + b"x")


class FlakyFront:
    """A front between the client and the live server that loses answers, the way a network or a restarting
    database does: `script` says, request by request, "forward" (the server's answer reaches the client),
    "cut" (the server does the request, the client gets no answer: the connection is closed) or "503" (our
    `database_unavailable` answer with Retry-After, the server never sees it)."""

    def __init__(self, upstream: str, script: list[str]):
        self.upstream = upstream
        self.script = list(script)
        self.seen: list[dict] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                front.seen.append({"path": self.path, "idempotency_key": self.headers.get("Idempotency-Key")})
                step = front.script.pop(0) if front.script else "forward"
                if step == "503":
                    payload = json.dumps(
                        {
                            "error": {
                                "code": "database_unavailable",
                                "message": "…",
                                "details": {"saved": "no"},
                            }
                        }
                    ).encode()
                    self._send(503, payload, {"Retry-After": "7"})
                    return
                status, payload, headers = front.forward(self.command, self.path, dict(self.headers), body)
                if step == "cut":
                    self.close_connection = True  # the answer is lost on the way back
                    return
                self._send(status, payload, headers)

            do_GET = do_POST

            def _send(self, status, payload, headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, method, path, headers, body):
        keep = {
            k: v
            for k, v in headers.items()
            if k.lower() in {"authorization", "content-type", "idempotency-key"}
        }
        request = urllib.request.Request(self.upstream + path, data=body or None, headers=keep, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return (
                    response.status,
                    response.read(),
                    {"Idempotent-Replayed": response.headers.get("Idempotent-Replayed", "")},
                )
        except urllib.error.HTTPError as error:
            return error.code, error.read(), {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_the_documented_client_retries_a_lost_answer_and_a_503_with_the_same_key(live_server, reference_data):
    partner = PartnerFactory()
    ProductFactory(partner=partner, sku="ART-1", price=15000)
    key = api_key_create(partner=partner, name="crm").key
    order = {
        "external_id": "CRM-20001",
        "customer_name": "Айгерим Сапарова",
        "phone": "+7 701 123 45 67",
        "city": "Алматы",
        "address": "ул. Абая, 10",
        "items": [{"sku": "ART-1", "quantity": 1}],
    }
    waits = []

    # the first try is done by the server but its answer is lost; the second meets a 503; the third gets through
    with FlakyFront(live_server.url, ["cut", "503", "forward"]) as front:
        crm = _example().KetLogistic(front.url, key, sleep=waits.append)
        status, created = crm.create_order(order)
        bulk_front_seen = len(front.seen)
    with FlakyFront(live_server.url, ["503", "cut", "forward"]) as front:
        crm = _example().KetLogistic(front.url, key, sleep=waits.append)
        bulk = crm.create_orders([{**order, "external_id": f"CRM-2{n:04d}"} for n in range(2, 5)])
        bulk_keys = {request["idempotency_key"] for request in front.seen}

    assert (status, created["external_id"]) == (201, "CRM-20001")  # the first try's own answer, replayed
    assert bulk_front_seen == 3
    assert Order.objects.filter(partner=partner, external_id="CRM-20001").count() == 1
    assert (bulk["created"], bulk["existing"]) == (3, 0)  # the cut try's answer, not "they exist already"
    assert len(bulk_keys) == 1 and None not in bulk_keys
    assert Order.objects.filter(partner=partner).count() == 4
    assert waits == [0.5, 7.0, 7.0, 1.0]  # back-off after a cut connection, Retry-After after a 503
