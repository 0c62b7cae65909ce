"""A partner CRM talking to KetLogistic: create orders, follow their statuses, verify webhooks.

Only the standard library, so it runs anywhere:

    KETLOGISTIC_URL=https://ketlogistic.example.kz KETLOGISTIC_KEY=kl_live_… python crm_client.py

Retries are safe: every POST carries an Idempotency-Key, and a retry (after a 503, a 429, a cut connection or a
timeout) sends the same request with the same key, honouring Retry-After; the server then does it once and
answers the retry with the first request's real outcome.

The test suite runs these same functions against a live server (tests/integrations/test_api_example.py).
"""

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

MAX_ATTEMPTS = 6


class KetLogistic:
    def __init__(self, base_url: str, api_key: str, *, sleep=time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.sleep = sleep

    def _call(self, method: str, path: str, body=None, *, idempotency_key: str | None = None):
        """One API call, retried the way docs/API.md says: every retry is the same request with the same
        Idempotency-Key, so it is done once and the retry gets the first request's real answer."""
        headers = {"Authorization": f"Api-Key {self.api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        for attempt in range(MAX_ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                payload = _json_or_none(error.read())
                code = payload.get("error", {}).get("code") if isinstance(payload, dict) else None
                if error.code in (429, 503):
                    # throttled, or the database was unavailable for a moment: wait as told, then send it again
                    self.sleep(_retry_after(error.headers.get("Retry-After"), attempt))
                    continue
                if error.code == 409 and idempotency_key and code == "idempotency_key_in_flight":
                    self.sleep(_backoff(attempt))  # our own earlier try is still running
                    continue
                return error.code, payload
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # No answer (connection refused or cut, timeout): the request may have been done or not. Only a
                # read or a request with an Idempotency-Key can be sent again without risk.
                if method != "GET" and not idempotency_key:
                    raise
                self.sleep(_backoff(attempt))
        raise RuntimeError(f"KetLogistic did not answer {method} {path} after {MAX_ATTEMPTS} attempts")

    def create_order(self, order: dict) -> tuple[int, dict]:
        # A retry after a timeout sends the same key: the order is created once and the first answer replayed.
        return self._call("POST", "/api/v1/orders/", order, idempotency_key=f"order-{order['external_id']}")

    def create_orders(self, orders: list[dict]) -> dict:
        # one key per batch: the retries of this call (503, a cut connection) send the same key
        return self._call(
            "POST", "/api/v1/orders/bulk/", {"orders": orders}, idempotency_key=str(uuid.uuid4())
        )[1]

    def changed_since(self, since_iso: str):
        """Every order changed since a moment, oldest change first, across all pages."""
        cursor = None
        while True:
            query = {"updated_since": since_iso, "page_size": 200}
            if cursor:
                query["cursor"] = cursor
            _status, page = self._call("GET", "/api/v1/orders/?" + urllib.parse.urlencode(query))
            yield from page["results"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def cancel(self, order_id: int, reason: str = "") -> tuple[int, dict]:
        return self._call(
            "POST",
            f"/api/v1/orders/{order_id}/cancel/",
            {"reason": reason},
            idempotency_key=f"cancel-{order_id}",
        )


def _json_or_none(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:  # not JSON (a proxy's error page)
        return None


def _backoff(attempt: int) -> float:
    return min(0.5 * 2**attempt, 30.0)


def _retry_after(value: str | None, attempt: int) -> float:
    """Retry-After in seconds (what KetLogistic sends); anything else falls back to exponential back-off."""
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return _backoff(attempt)


def verify_webhook(secret: str, headers: dict, raw_body: bytes, tolerance_seconds: int = 300) -> bool:
    """Standard Webhooks (https://www.standardwebhooks.com) with the standard library only; the official
    `standardwebhooks` package does the same: `Webhook(secret).verify(raw_body, headers)`."""
    headers = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
        signatures = headers["webhook-signature"].split(" ")
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False  # an old message replayed
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + raw_body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    # as bytes: compare_digest raises on a str with non-ASCII characters (a forged header must not crash the check)
    return any(hmac.compare_digest(expected.encode(), signature.encode()) for signature in signatures)


if __name__ == "__main__":
    client = KetLogistic(os.environ["KETLOGISTIC_URL"], os.environ["KETLOGISTIC_KEY"])
    status, order = client.create_order(
        {
            "external_id": "CRM-10001",
            "customer_name": "Айгерим Сапарова",
            "phone": "+7 701 123 45 67",
            "city": "Алматы",
            "address": "ул. Абая, 10, кв. 5",
            "delivery_kind": "express",
            "items": [{"sku": "ART-1", "quantity": 1, "price": "15000"}],
        }
    )
    print(status, order)
