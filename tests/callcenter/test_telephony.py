"""Telephony: click-to-call through a PBX that speaks the documented protocol, its signed webhook, the
recordings and who may listen to them."""

import json
import time

import pytest
from django.urls import reverse

from callcenter import services, telephony
from callcenter.models import CallAttempt, InboundCall, Outcome
from ketlogistic.core.errors import ApplicationError
from ketlogistic.core.roles import Role
from orders.models import OrderPhone
from tests.http_servers import LocalPbx
from tests.isolation import assert_hidden

SECRET = "pbx-webhook-secret"
API_KEY = "pbx-api-key"


@pytest.fixture
def http_telephony(settings):
    settings.TELEPHONY_BACKEND = "http"
    settings.TELEPHONY_API_KEY = API_KEY
    settings.TELEPHONY_WEBHOOK_SECRET = SECRET
    recording = telephony.tone_wav(0.5)
    with LocalPbx(api_key=API_KEY, secret=SECRET, recording=recording) as pbx:
        settings.TELEPHONY_PBX_URL = pbx.url
        yield pbx


def _signed_post(client, payload, *, secret=SECRET, timestamp=None):
    body = telephony.webhook_body(payload)
    header = telephony.sign(secret, timestamp or int(time.time()), body)
    return client.post(
        reverse("callcenter:pbx_webhook"),
        data=body,
        content_type="application/json",
        headers={telephony.SIGNATURE_HEADER: header},
    )


@pytest.mark.django_db(transaction=True)
def test_click_to_call_then_the_signed_result_brings_the_recording(
    http_telephony, live_server, settings, calling_order, logist, login, at_tuesday_10
):
    settings.TELEPHONY_CALLBACK_BASE_URL = live_server.url
    order = calling_order()
    number = services.customer_number(order)
    client = login(logist)

    screen = client.post(reverse("callcenter:call", args=[order.pk]), {"action": "dial"}, follow=True)

    [(call_id, request)] = http_telephony.calls.items()
    assert request["extension"] == "101" and request["to"] == number
    assert request["callback_url"] == f"{live_server.url}/callcenter/telephony/webhook/"
    assert number not in screen.content.decode() and number[-7:] not in screen.content.decode()
    attempt = CallAttempt.objects.get(telephony_call_id=call_id)
    assert (attempt.line_state, bool(attempt.recording)) == (CallAttempt.Line.DIALING, False)

    answer = http_telephony.finish(call_id, duration=57)
    replay = http_telephony.finish(call_id, duration=57)

    attempt.refresh_from_db()
    assert (answer.status_code, replay.status_code) == (200, 200)
    assert (attempt.line_state, attempt.duration_seconds) == (CallAttempt.Line.COMPLETED, 57)
    assert attempt.recording.read() == http_telephony.recording
    assert http_telephony.recording_downloads == 1  # the replay changed nothing
    services.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)
    assert CallAttempt.objects.get(pk=attempt.pk).outcome == Outcome.NO_ANSWER


@pytest.mark.django_db
def test_the_webhook_rejects_a_bad_or_stale_signature(client, settings, calling_order, logist, at_tuesday_10):
    settings.TELEPHONY_WEBHOOK_SECRET = SECRET
    order = calling_order()
    attempt = services.call_dial(actor=logist, order=order)
    payload = {"call_id": attempt.telephony_call_id, "status": "completed", "duration": 9}

    wrong_secret = _signed_post(client, payload, secret="guessed")
    stale = _signed_post(client, payload, timestamp=int(time.time()) - 3600)
    unsigned = client.post(
        reverse("callcenter:pbx_webhook"), data=json.dumps(payload), content_type="application/json"
    )

    assert [r.status_code for r in (wrong_secret, stale, unsigned)] == [403, 403, 403]
    assert CallAttempt.objects.get(pk=attempt.pk).duration_seconds == 0


# docs: X-PBX-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. The expected value was computed
# outside the product: printf '%s' '1800000000.{"call_id":"c-1","status":"completed","duration":42}' |
#   openssl dgst -sha256 -hmac pbx-webhook-secret
KNOWN_BODY = b'{"call_id":"c-1","status":"completed","duration":42}'
KNOWN_V1 = "05e9a7861cd7900b660248e6f075e0aad2d97ce294338ab46c0c9131fcab5ea1"


@pytest.mark.django_db
def test_pbx_signature_known_answer(client, settings):
    from datetime import UTC, datetime

    import time_machine

    settings.TELEPHONY_WEBHOOK_SECRET = SECRET
    header = f"t=1800000000,v1={KNOWN_V1}"
    with time_machine.travel(datetime.fromtimestamp(1_800_000_010, tz=UTC), tick=False):
        signed = telephony.sign(SECRET, 1_800_000_000, KNOWN_BODY)
        verified = telephony.verify(SECRET, header, KNOWN_BODY)
        answer = client.post(
            reverse("callcenter:pbx_webhook"),
            data=KNOWN_BODY,
            content_type="application/json",
            headers={telephony.SIGNATURE_HEADER: header},
        )

    assert (signed, verified, answer.status_code) == (header, True, 200)


@pytest.mark.django_db
def test_pbx_replay_with_fresh_timestamp_is_refused(client, settings, calling_order, logist, at_tuesday_10):
    """A signature captured an hour ago, sent again with the current time as `t`: the timestamp is signed."""
    settings.TELEPHONY_WEBHOOK_SECRET = SECRET
    attempt = services.call_dial(actor=logist, order=calling_order())
    body = telephony.webhook_body(
        {"call_id": attempt.telephony_call_id, "status": "completed", "duration": 9}
    )
    captured = telephony.sign(SECRET, int(time.time()) - 3600, body).split("v1=")[1]

    def post(header):
        return client.post(
            reverse("callcenter:pbx_webhook"),
            data=body,
            content_type="application/json",
            headers={telephony.SIGNATURE_HEADER: header},
        )

    replay = post(f"t={int(time.time())},v1={captured}")
    assert (replay.status_code, CallAttempt.objects.get(pk=attempt.pk).duration_seconds) == (403, 0)

    signed_now = telephony.sign(SECRET, int(time.time()), body)
    # the same request again inside the window: acknowledged, not processed twice
    first, again = post(signed_now), post(signed_now)
    assert (first.json(), again.json()) == ({"ok": True}, {"ok": True, "duplicate": True})
    assert CallAttempt.objects.get(pk=attempt.pk).duration_seconds == 9


@pytest.mark.django_db
def test_without_a_configured_secret_every_webhook_is_refused(client, settings):
    settings.TELEPHONY_WEBHOOK_SECRET = ""

    response = _signed_post(client, {"call_id": "x", "status": "completed"}, secret="")

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_recording_that_is_not_audio_is_refused(
    client, http_telephony, calling_order, logist, at_tuesday_10
):
    http_telephony.recording = b"<html>not a call</html>"
    order = calling_order()
    attempt = services.call_dial(actor=logist, order=order)

    response = _signed_post(
        client,
        {
            "call_id": attempt.telephony_call_id,
            "status": "completed",
            "duration": 3,
            "recording_url": f"{http_telephony.url}/recordings/{attempt.telephony_call_id}.wav",
        },
    )

    assert response.status_code == 400
    assert not CallAttempt.objects.get(pk=attempt.pk).recording


@pytest.mark.django_db
def test_a_pbx_that_refuses_the_call_gives_the_operator_a_clear_error(
    settings, http_telephony, calling_order, logist, at_tuesday_10
):
    settings.TELEPHONY_API_KEY = "wrong-key"
    order = calling_order()

    with pytest.raises(ApplicationError, match="PBX refused the call: HTTP 401"):
        services.call_dial(actor=logist, order=order)

    assert not CallAttempt.objects.filter(order=order).exists()  # nothing half-done


@pytest.mark.django_db
def test_an_unreachable_pbx_gives_the_operator_a_clear_error(settings, calling_order, logist, at_tuesday_10):
    settings.TELEPHONY_BACKEND = "http"
    settings.TELEPHONY_PBX_URL = "http://127.0.0.1:9"

    with pytest.raises(ApplicationError, match="PBX unreachable"):
        services.call_dial(actor=logist, order=calling_order())


@pytest.mark.django_db
def test_a_missed_inbound_call_from_the_pbx_is_logged_once(client, settings, calling_order, at_tuesday_10):
    settings.TELEPHONY_WEBHOOK_SECRET = SECRET
    order = calling_order()
    number = services.customer_number(order)
    payload = {"type": "inbound", "call_id": "in-1", "status": "missed", "from": number, "country": "KZ"}

    first, replay = _signed_post(client, payload), _signed_post(client, payload)

    assert (first.status_code, replay.status_code) == (200, 200)
    [call] = InboundCall.objects.all()
    assert (call.is_missed, call.order_id, call.partner_id) == (True, order.pk, order.partner_id)
    assert call.callback_due_at is not None and number not in call.masked_phone


@pytest.mark.django_db
def test_the_dev_backend_records_locally_and_staff_and_the_partner_can_listen(
    at_tuesday_10, calling_order, logist, login, client_a, client_b, make_user, partner_a
):
    order = calling_order()
    attempt = services.call_dial(actor=logist, order=order)
    services.call_outcome(actor=logist, order=order, outcome=Outcome.NO_ANSWER)
    url = reverse("callcenter:recording", args=[attempt.pk])

    staff = login(logist).get(url)
    partner = client_a.get(url)

    assert staff.status_code == 200 and staff["Content-Type"] == "audio/wav"
    assert b"".join(staff.streaming_content).startswith(b"RIFF")
    assert partner.status_code == 200 and partner["Content-Type"] == "audio/wav"
    assert_hidden(client_b, url)
    other_country = make_user(Role.LOGIST, scopes=[{"country": "KG"}])
    assert_hidden(login(other_country), url)
    courier = make_user(Role.COURIER, scopes=[{"country": "KZ"}])
    assert login(courier).get(url).status_code == 403


@pytest.mark.django_db
def test_partner_sees_attempts_and_the_recording_player_on_the_order_card(
    at_tuesday_10, calling_order, logist, client_a, client_b
):
    order = calling_order()
    attempt = services.call_dial(actor=logist, order=order)
    services.call_outcome(
        actor=logist, order=order, outcome=Outcome.CALLBACK, callback_at=at_tuesday_10_plus_hours(3)
    )

    page = client_a.get(reverse("orders:detail", args=[order.pk])).content.decode()

    assert reverse("callcenter:recording", args=[attempt.pk]) in page
    assert "<audio" in page
    assert "13:00" in page  # the call-back time in the calling summary
    assert client_b.get(reverse("orders:detail", args=[order.pk])).status_code == 404


@pytest.mark.django_db
def test_the_number_is_never_on_the_call_screen(calling_order, logist, login, at_tuesday_10):
    order = calling_order()
    number = services.customer_number(order)

    page = login(logist).get(reverse("callcenter:call", args=[order.pk])).content.decode()

    assert OrderPhone.objects.get(order=order).masked in page
    assert number not in page and number.lstrip("+") not in page


def at_tuesday_10_plus_hours(hours):
    from datetime import timedelta

    from tests.clock import TUESDAY_10

    return TUESDAY_10 + timedelta(hours=hours)
