"""Claims through the REST API (issue 20 item 1): a partner's CRM files a claim, reads it and its discussion, answers
our question, attaches photos; `claim.updated` tells it of every step. Another partner's claims do not exist for it,
and a sandbox key never touches a live claim."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing import claims
from billing.models import Claim, ClaimFile
from integrations import webhooks
from integrations.api_keys import api_key_create
from integrations.models import WebhookDelivery, WebhookEvent
from tests.factories import make_order
from tests.integrations.conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_a(partner_a, product_a):
    return make_order(partner_a, product=product_a)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (250, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_crm_files_a_claim_and_reads_it_back(api_a, order_a, head):
    created = api_a.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "damaged", "text": "Разбит"})

    assert created.status_code == 201, created.content
    body = created.json()
    claim = Claim.objects.get()
    assert {key: body[key] for key in ("id", "order_id", "external_id", "kind", "state", "channel")} == {
        "id": claim.pk,
        "order_id": order_a.pk,
        "external_id": order_a.external_id,
        "kind": "damaged",
        "state": "new",
        "channel": "api",
    }
    assert body["due_on"] == claim.due_on.isoformat() and body["compensation"] is None
    assert body["resolution"] == "" and body["messages"] == [] and body["files"] == []
    assert claim.filed_by is None and claim.filed_by_label.startswith("API ")
    listed = api_a.get("/api/v1/claims/", {"state": "new,in_work"}).json()
    assert [row["id"] for row in listed["results"]] == [claim.pk] and listed["next_cursor"] is None
    assert api_a.get(f"/api/v1/claims/{claim.pk}/").json()["text"] == "Разбит"


def test_the_same_claim_twice_is_a_conflict_naming_the_open_one(api_a, order_a):
    first = api_a.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "missing", "text": "Нет товара"})

    again = api_a.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "missing", "text": "Нет товара!"})

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert again.json()["error"]["details"] == {"id": first.json()["id"]}
    assert Claim.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "damaged", "text": "Нет заказа"}, "order_id"),
        ({"order_id": 999999999, "kind": "damaged", "text": "Чужой"}, "order_id"),
        ({"order_id": "x", "kind": "damaged", "text": "x"}, "order_id"),
        ({"order_id": 1, "kind": "lost_in_space", "text": "x"}, "kind"),
        ({"order_id": 1, "kind": "damaged", "text": ""}, "text"),
        ({"order_id": 1, "kind": "damaged", "text": "x" * 5001}, "text"),
    ],
)
def test_a_bad_claim_is_a_400_naming_the_field(api_a, order_a, body, field):
    answer = api_a.post("/api/v1/claims/", body)

    assert answer.status_code == 400
    assert field in answer.json()["error"]["details"]
    assert not Claim.objects.exists()


def test_another_partners_order_and_claim_do_not_exist_for_the_key(api_a, api_b, order_a, user_a):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Секрет А")

    filed = api_b.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "damaged", "text": "Чужой"})

    assert filed.status_code == 400 and "order_id" in filed.json()["error"]["details"]
    assert api_b.get(f"/api/v1/claims/{claim.pk}/").status_code == 404
    assert api_b.post(f"/api/v1/claims/{claim.pk}/messages/", {"text": "Привет"}).status_code == 404
    assert api_b.get("/api/v1/claims/").json()["results"] == []


def test_a_sandbox_key_and_a_read_only_key_file_no_claims(partner_a, api_a_test, order_a, user_a):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Живая претензия")
    read_only = ApiClient(api_key_create(partner=partner_a, name="RO", read_only=True).key)

    assert (
        api_a_test.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "other", "text": "x"}).status_code
        == 403
    )
    assert api_a_test.get("/api/v1/claims/").json()["results"] == []
    assert api_a_test.post(f"/api/v1/claims/{claim.pk}/messages/", {"text": "x"}).status_code == 404
    assert (
        read_only.post("/api/v1/claims/", {"order_id": order_a.pk, "kind": "other", "text": "x"}).status_code
        == 403
    )
    assert read_only.get(f"/api/v1/claims/{claim.pk}/").status_code == 200
    assert Claim.objects.count() == 1 and not claim.messages.exists()


def test_the_crms_answer_brings_the_claim_back_into_work(api_a, order_a, user_a, head):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="wrong_sum", text="Лишние 1000")
    claims.claim_post(actor=head, claim=claim, text="Какой чек?", ask_partner=True)
    assert api_a.get(f"/api/v1/claims/{claim.pk}/").json()["state"] == "waiting_partner"

    answered = api_a.post(f"/api/v1/claims/{claim.pk}/messages/", {"text": "Чек № 7"})

    assert answered.status_code == 201 and answered.json()["side"] == "partner"
    detail = api_a.get(f"/api/v1/claims/{claim.pk}/").json()
    assert detail["state"] == "in_work"
    assert [(m["side"], m["text"]) for m in detail["messages"]] == [
        ("staff", "Какой чек?"),
        ("partner", "Чек № 7"),
    ]


def test_a_photo_is_attached_by_multipart_and_a_page_named_jpg_is_refused(api_a, order_a, user_a):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Треснул")
    url = f"/api/v1/claims/{claim.pk}/files/"

    good = api_a.client.post(url, {"file": SimpleUploadedFile("фото.png", png_bytes())}, **api_a.headers)
    bad = api_a.client.post(
        url, {"file": SimpleUploadedFile("x.jpg", b"<html><script>1</script></html>")}, **api_a.headers
    )
    missing = api_a.client.post(url, {"note": "без файла"}, **api_a.headers)
    as_json = api_a.post(url, {"file": "aGVsbG8="})

    assert good.status_code == 201, good.content
    assert {key: good.json()[key] for key in ("name", "content_type")} == {
        "name": "фото.png",
        "content_type": "image/png",
    }
    assert bad.status_code == 400 and "file" in bad.json()["error"]["details"]
    assert missing.status_code == 400 and "file" in missing.json()["error"]["details"]
    assert as_json.status_code == 415
    assert ClaimFile.objects.count() == 1
    assert [f["name"] for f in api_a.get(f"/api/v1/claims/{claim.pk}/").json()["messages"][0]["files"]] == [
        "фото.png"
    ]


def test_a_closed_claim_takes_no_more_messages(api_a, order_a, user_a, head):
    claim = claims.claim_file(actor=user_a, order=order_a, kind="other", text="Вопрос")
    claims.claim_reject(actor=head, claim=claim, reason="Не по нашей вине")

    answer = api_a.post(f"/api/v1/claims/{claim.pk}/messages/", {"text": "Но как же"})

    assert answer.status_code == 409 and answer.json()["error"]["code"] == "not_allowed"
    assert api_a.get(f"/api/v1/claims/{claim.pk}/").json()["resolution"] == "Не по нашей вине"


def test_claim_updated_is_delivered_to_an_endpoint_that_subscribed(user_a, order_a, head):
    endpoint, _secret = webhooks.endpoint_create(
        actor=user_a, url="https://hooks.example.kz/claims", events=["claim.updated"]
    )

    claim = claims.claim_file(actor=user_a, order=order_a, kind="damaged", text="Разбит, Айгерим Сапарова")
    claims.claim_take(actor=head, claim=claim)

    events = WebhookEvent.objects.filter(type="claim.updated").order_by("created_at", "id")
    assert [event.payload["data"]["action"] for event in events] == ["filed", "taken"]
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2
    data = events.last().payload["data"]["claim"]
    assert set(data) == {
        "id",
        "order_id",
        "external_id",
        "kind",
        "state",
        "channel",
        "filed_at",
        "due_on",
        "closed_at",
        "compensation",
        "currency",
    }
    assert data["state"] == "in_work" and data["filed_at"].endswith("Z")
    assert "Айгерим" not in str(
        events.last().payload
    )  # the claim's text is not sent: it may name the customer
    assert "claim.updated" in webhooks.EVENT_TYPES
