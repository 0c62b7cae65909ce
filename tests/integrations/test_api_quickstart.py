"""docs/API.md's quick start runs as written: its marked snippets, in order, against a live server, with a sandbox key
and a webhook endpoint registered the way the cabinet registers one; the receiver it shows verifies what it gets with
the official `standardwebhooks` library."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integrations import webhooks
from integrations.api_keys import api_key_create
from orders.models import Order
from orders.statuses import OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)
API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
SECTION = "## Quick start: your first hour"
RUN = re.compile(r"<!-- quickstart:run -->\n```(sh|python)\n(.*?)\n```", re.S)
EXTERNAL_ID = "QS-10001"


def quickstart_snippets() -> list[tuple[str, str]]:
    """The section's blocks marked `<!-- quickstart:run -->`, in order, as (language, code)."""
    text = API_MD.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return RUN.findall(text[start : end if end != -1 else None])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    return check()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def test_the_quick_start_runs_as_written(live_server, user_a, partner_a, tmp_path):
    snippets = quickstart_snippets()
    assert [language for language, _code in snippets] == ["sh", "sh", "python", "sh"]
    env = {
        **os.environ,
        "KETLOGISTIC_URL": live_server.url,
        "KETLOGISTIC_KEY": api_key_create(partner=partner_a, name="Quick start", is_test=True).key,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    receiver = None
    try:
        for language, code in snippets:
            if (
                language == "python"
            ):  # the webhook receiver: registered as the cabinet does, then left running
                port = _free_port()
                _endpoint, secret = webhooks.endpoint_create(
                    actor=user_a,
                    url=f"http://127.0.0.1:{port}/",
                    events=["order.created", "order.status_changed"],
                    is_test=True,
                )
                receiver = subprocess.Popen(
                    [sys.executable, "-c", code],
                    cwd=tmp_path,
                    env={**env, "KETLOGISTIC_WEBHOOK_SECRET": secret, "PORT": str(port)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                up = _wait_for(
                    lambda port=port, process=receiver: _listening(port) or process.poll() is not None
                )
                assert up and receiver.poll() is None, receiver.communicate()[0]
                continue
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, f"{code}\n--- stdout:\n{done.stdout}\n--- stderr:\n{done.stderr}"

        webhooks.deliver_due()  # what the worker does (tests run no Celery worker)
        log = tmp_path / "webhooks.jsonl"
        verified = _wait_for(
            lambda: log.exists() and [json.loads(line) for line in log.read_text().splitlines()]
        )
    finally:
        if receiver is not None:
            receiver.terminate()
            output = receiver.communicate(timeout=10)[0]

    order = Order.objects.get(partner=partner_a, external_id=EXTERNAL_ID)
    assert order.is_test and order.status == OrderStatus.SENT
    assert verified, f"the receiver verified nothing; it said:\n{output}"
    moved = [event for event in verified if event["type"] == "order.status_changed"]
    assert [(e["data"]["order"]["external_id"], e["data"]["from"], e["data"]["to"]) for e in moved] == [
        (EXTERNAL_ID, "to_send", "sent")
    ]
    assert moved[0]["livemode"] is False
    assert "verified order.status_changed" in output


# -- the Errors table names every code the API answers ---------------------------------------------------------------

API_CODE = re.compile(r"""code=["']([a-z_]+)["']|["']code["']:\s*["']([a-z_]+)["']""")


def _error_table_codes() -> set[str]:
    text = API_MD.read_text(encoding="utf-8")
    table = text[text.index("## Errors") : text.index("## Orders")]
    return set(
        re.findall(r"`([a-z_]+)`", "\n".join(line for line in table.splitlines() if line.startswith("| ")))
    )


def test_the_errors_table_names_every_code_the_api_answers():
    from integrations.api import errors

    api = Path(errors.__file__).parent
    spoken = set(errors.CODES.values()) - {"unprocessable"}  # no 422 is raised without its own code
    for source in api.glob("*.py"):
        for match in API_CODE.finditer(source.read_text(encoding="utf-8")):
            spoken.add(match.group(1) or match.group(2))
    spoken -= {"invalid", "invalid_choice"}  # Django's field-error codes, answered as `validation_error`

    assert {"database_unavailable", "server_error", "order_exists", "not_allowed"} <= spoken
    assert spoken - _error_table_codes() == set()


def test_a_wrong_method_and_an_unacceptable_accept_get_their_documented_codes(partner_a):
    from tests.integrations.conftest import ApiClient

    api = ApiClient(api_key_create(partner=partner_a, name="CRM").key)
    wrong_method = api.client.delete("/api/v1/orders/", **api.headers)
    not_json = api.get("/api/v1/orders/", HTTP_ACCEPT="text/csv")

    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "method_not_allowed")
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (406, "not_acceptable")
